-- runs still marked running when a new run starts died without finishing: the
-- deployment allows one run at a time
update runs
set status = 'crashed'
where status = 'running' and run_id <> :run_id
