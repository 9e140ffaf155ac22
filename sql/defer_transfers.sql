-- move the next attempt of pending transfers (in _incoming) to :next_attempt_at
-- without counting an attempt, because a partner's Retry-After covers every request
update transfers
set next_attempt_at = :next_attempt_at
where
    transfer_id in (select transfer_id from _incoming)
    and status = 'pending'
