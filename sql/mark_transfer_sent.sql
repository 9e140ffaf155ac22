update transfers
set status = 'sent', sent_at = :sent_at, attempts = attempts + 1, last_error = null
where transfer_id = :transfer_id and status = 'pending'
