-- store a run's warnings over all its attempts (a JSON list of texts)
update runs
set warnings = :warnings
where run_id = :run_id
