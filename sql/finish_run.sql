update runs
set finished_at = :finished_at, status = :status, files_in = :files_in,
    rows_in = :rows_in, summary = :summary
where run_id = :run_id
