-- the backlog results of one run over all its attempts (zero when none)
select
    coalesce(backlog_placed, 0) as placed,
    coalesce(backlog_held, 0) as held,
    coalesce(backlog_disqualified, 0) as disqualified
from runs
where run_id = :run_id
