-- a run whose flow raised: keep its summary if it published one
update runs
set status = 'failed', finished_at = :finished_at
where run_id = :run_id
