-- store the payload bytes in _incoming for each pending transfer. A transfer gets
-- its first payload before its first send. A stored payload that differs, because
-- the partner's allowlist or intro template changed, is replaced.
update transfers
set payload = i.payload
from _incoming as i
where
    transfers.transfer_id = i.transfer_id
    and transfers.status = 'pending'
    and (transfers.payload is null or transfers.payload <> i.payload)
