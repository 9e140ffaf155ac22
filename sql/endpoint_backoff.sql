-- the back-off of one partner's endpoint that is still running at :now (zero
-- or one row)
select partner_id, next_attempt_at, reason
from endpoint_backoff
where partner_id = :partner_id and next_attempt_at > :now
