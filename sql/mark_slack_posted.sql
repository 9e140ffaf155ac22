-- a run whose summary or reminder reached Slack
update runs
set slack_posted_at = :posted_at
where run_id = :run_id
