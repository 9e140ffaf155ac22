-- the latest runs, the one that finished last first: a Prefect retry of an older
-- flow run keeps its start time but can take the newest files. A run that has not
-- finished (still going, or killed) counts from its start and shows the files it
-- has committed so far
select
    r.run_id,
    r.flow_run_id,
    r.started_at,
    r.finished_at,
    r.status,
    coalesce(r.files_in, f.files) as files_in,
    coalesce(r.rows_in, f.rows_in) as rows_in,
    r.summary
from runs as r
left join (
    select run_id, count(*) as files, sum(rows_in) as rows_in
    from source_files
    where status = 'committed'
    group by run_id
) as f on f.run_id = r.run_id
order by coalesce(r.finished_at, r.started_at) desc, r.started_at desc
limit :limit
