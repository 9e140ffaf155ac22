update transfers
set status = 'failed', attempts = attempts + 1, last_error = :last_error
where transfer_id = :transfer_id and status = 'pending'
