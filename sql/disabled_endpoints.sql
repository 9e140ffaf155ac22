select partner_id, reason, disabled_at from endpoint_state
