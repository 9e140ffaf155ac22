insert into runs (run_id, flow_run_id, started_at, status)
values (:run_id, :flow_run_id, :started_at, 'running')
on conflict (run_id) do update set started_at = excluded.started_at, status = 'running'
