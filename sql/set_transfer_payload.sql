update transfers
set payload = :payload
where transfer_id = :transfer_id and payload is null
