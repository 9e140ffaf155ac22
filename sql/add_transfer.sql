-- one pending transfer; a second offer of the same lead to the same partner is ignored
insert into transfers (
    transfer_id, lead_id, partner_id, channel, status, attempts, failed_sends,
    next_attempt_at, run_id, created_at
)
values (
    :transfer_id, :lead_id, :partner_id, :channel, 'pending', 0, 0, :created_at,
    :run_id, :created_at
)
on conflict do nothing
