-- add one attempt's backlog results to its run, so that a retried flow run
-- reports what every attempt did
update runs
set
    backlog_placed = coalesce(backlog_placed, 0) + :placed,
    backlog_held = coalesce(backlog_held, 0) + :held,
    backlog_disqualified = coalesce(backlog_disqualified, 0) + :disqualified
where run_id = :run_id
