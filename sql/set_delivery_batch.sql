update transfers
set delivery_batch = :delivery_batch
where transfer_id = :transfer_id and delivery_batch is null
