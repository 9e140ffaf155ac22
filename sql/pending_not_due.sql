-- pending transfers of one partner whose next attempt comes after :now: how many,
-- and when the first of them is due
select count(*) as n, min(next_attempt_at) as next_at
from transfers
where
    partner_id = :partner_id
    and status = 'pending'
    and next_attempt_at > :now
