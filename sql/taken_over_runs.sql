-- crashed or failed runs whose committed work the given run took over
select run_id
from runs
where status in ('crashed', 'failed') and summary = '{"taken_over_by": "' || :run_id || '"}'
order by started_at
