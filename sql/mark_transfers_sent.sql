-- mark the transfers listed in _incoming (transfer_id, sent_at, attempts,
-- channel, run_id) as sent. attempts is the number of HTTP attempts of the last
-- send (1 for a file), channel is the one that delivered it, and run_id the run
-- that sent it (null outside a run)
update transfers
set
    status = 'sent',
    sent_at = i.sent_at,
    attempts = transfers.attempts + i.attempts,
    channel = i.channel,
    sent_by_run = i.run_id,
    last_error = null
from _incoming as i
where transfers.transfer_id = i.transfer_id and transfers.status = 'pending'
