-- the partner endpoints whose back-off (after a 429 or failed sends) still runs at :now
select partner_id, next_attempt_at, reason
from endpoint_backoff
where next_attempt_at > :now
order by partner_id
