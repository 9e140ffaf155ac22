-- stamp the transfers in _incoming with the file batch that will carry them
update transfers
set delivery_batch = i.delivery_batch
from _incoming as i
where transfers.transfer_id = i.transfer_id and transfers.delivery_batch is null
