-- runs marked running, oldest first: who holds the run lock, for its error message
select run_id, started_at
from runs
where status = 'running'
order by started_at
