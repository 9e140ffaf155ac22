-- how many leads wait for a human's approval now, and since when the oldest waits
select count(*) as n, min(created_at) as oldest
from approvals
where status = 'pending'
