-- count :attempts HTTP attempts of one pending transfer and keep their error.
-- Its next attempt stays unchanged because it waits for its disabled endpoint
update transfers
set
    attempts = attempts + :attempts,
    last_error = :last_error
where transfer_id = :transfer_id and status = 'pending'
