-- record a failed send of one pending transfer, which made :attempts HTTP
-- attempts. :failed_sends (0 for a 429, else 1) counts towards its retry schedule
update transfers
set
    attempts = attempts + :attempts,
    failed_sends = failed_sends + :failed_sends,
    next_attempt_at = :next_attempt_at,
    last_error = :last_error
where transfer_id = :transfer_id and status = 'pending'
