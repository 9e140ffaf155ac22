-- A run that crashed or failed after committing files never published their
-- outcomes. The next run takes its files, row outcomes and offered transfers over,
-- so that its summary reports them, and marks that run as taken over.
update source_files set run_id = :run_id
where run_id in (
    select run_id from runs where status in ('crashed', 'failed') and summary is null
);
update row_outcomes set run_id = :run_id
where run_id in (
    select run_id from runs where status in ('crashed', 'failed') and summary is null
);
update transfers set run_id = :run_id
where run_id in (
    select run_id from runs where status in ('crashed', 'failed') and summary is null
);
update runs set summary = '{"taken_over_by": "' || :run_id || '"}'
where status in ('crashed', 'failed') and summary is null and run_id <> :run_id
