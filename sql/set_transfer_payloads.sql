-- store the payload bytes of each transfer in _incoming before its first send
update transfers
set payload = i.payload
from _incoming as i
where transfers.transfer_id = i.transfer_id and transfers.payload is null
