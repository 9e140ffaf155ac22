-- A run that crashed or failed after committing files never published their
-- outcomes. The next run marks each such run as taken over, then takes its files,
-- row outcomes and offered transfers over, so that its summary reports them. A
-- run that crashed before it recorded anything is not taken over: there is
-- nothing of it to report.
update runs set summary = '{"taken_over_by": "' || :run_id || '"}'
where
    status in ('crashed', 'failed')
    and summary is null
    and run_id <> :run_id
    and (
        run_id in (select f.run_id from source_files as f)
        or run_id in (select t.run_id from transfers as t)
    );
update source_files set run_id = :run_id
where run_id in (
    select r.run_id from runs as r
    where r.summary = '{"taken_over_by": "' || :run_id || '"}'
);
update row_outcomes set run_id = :run_id
where run_id in (
    select r.run_id from runs as r
    where r.summary = '{"taken_over_by": "' || :run_id || '"}'
);
update transfers set run_id = :run_id
where run_id in (
    select r.run_id from runs as r
    where r.summary = '{"taken_over_by": "' || :run_id || '"}'
)
