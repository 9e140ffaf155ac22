update transfers
set
    attempts = attempts + 1,
    next_attempt_at = :next_attempt_at,
    last_error = :last_error
where transfer_id = :transfer_id and status = 'pending'
