-- record a run as running. A Prefect retry of the flow run reuses its run id: it
-- keeps the first attempt's started_at and clears the failed attempt's finished_at
insert into runs (run_id, flow_run_id, started_at, status)
values (:run_id, :flow_run_id, :started_at, 'running')
on conflict (run_id) do update set status = 'running', finished_at = null
