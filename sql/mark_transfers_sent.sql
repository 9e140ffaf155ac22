-- mark the transfers listed in _incoming (transfer_id, sent_at) as sent
update transfers
set
    status = 'sent',
    sent_at = i.sent_at,
    attempts = transfers.attempts + 1,
    last_error = null
from _incoming as i
where transfers.transfer_id = i.transfer_id and transfers.status = 'pending'
