-- the transfers that this run failed for good because the partner rejected them
-- (a 4xx response that a retry would not change), with the error of each
select partner_id, lead_id, last_error
from transfers
where status = 'failed' and failed_by_run = :run_id
order by partner_id, lead_id
