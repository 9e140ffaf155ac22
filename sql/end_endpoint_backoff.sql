-- end one partner's endpoint back-off at :now: its pending transfers held to the
-- end of the back-off are due at once. A transfer's own retry time stays if it
-- comes later than the back-off's end.
update transfers
set next_attempt_at = :now
where
    partner_id = :partner_id
    and status = 'pending'
    and next_attempt_at > :now
    and next_attempt_at <= (
        select next_attempt_at from endpoint_backoff where partner_id = :partner_id
    );
delete from endpoint_backoff where partner_id = :partner_id
