-- the latest runs, newest first
select run_id, flow_run_id, started_at, finished_at, status, files_in, rows_in, summary
from runs
order by started_at desc
limit :limit
