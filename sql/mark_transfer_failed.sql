-- record a send the partner rejected for good, after :attempts HTTP attempts
update transfers
set
    status = 'failed',
    attempts = attempts + :attempts,
    failed_sends = failed_sends + 1,
    last_error = :last_error,
    failed_at = :failed_at,
    failed_by_run = :run_id
where transfer_id = :transfer_id and status = 'pending'
