insert into endpoint_state (partner_id, disabled_at, reason)
values (:partner_id, :disabled_at, :reason)
on conflict (partner_id) do nothing
