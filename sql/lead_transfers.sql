select transfer_id, partner_id, channel, status, attempts, last_error, created_at, sent_at
from transfers
where lead_id = :lead_id
order by created_at
