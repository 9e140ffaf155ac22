-- pause all posts to one partner's endpoint until :next_attempt_at. A pause
-- already stored that ends later is kept
insert into endpoint_backoff (partner_id, next_attempt_at, reason)
values (:partner_id, :next_attempt_at, :reason)
on conflict (partner_id) do update
set
    next_attempt_at = greatest(
        endpoint_backoff.next_attempt_at, excluded.next_attempt_at
    ),
    reason = excluded.reason
