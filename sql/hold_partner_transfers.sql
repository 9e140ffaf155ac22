-- move every pending transfer of one partner that would be due before
-- :next_attempt_at (the end of its endpoint's back-off) to that time, without
-- counting an attempt
update transfers
set next_attempt_at = :next_attempt_at
where
    partner_id = :partner_id
    and status = 'pending'
    and (next_attempt_at is null or next_attempt_at < :next_attempt_at)
