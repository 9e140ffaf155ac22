delete from endpoint_state where partner_id = :partner_id
