-- mark the transfers listed in _incoming (transfer_id, sent_at, attempts,
-- channel) as sent. attempts is the number of HTTP attempts of the last send (1
-- for a file), and channel is the one that delivered it
update transfers
set
    status = 'sent',
    sent_at = i.sent_at,
    attempts = transfers.attempts + i.attempts,
    channel = i.channel,
    last_error = null
from _incoming as i
where transfers.transfer_id = i.transfer_id and transfers.status = 'pending'
