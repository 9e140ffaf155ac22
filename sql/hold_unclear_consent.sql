-- hold the leads in _incoming (lead_id, reason): a later row of the same person
-- has an unknown opt-out or consent value. Their pending transfers fail with the
-- reason, and the backlog and the approval queue skip them (consent_holds)
insert into consent_holds (lead_id, reason, held_at)
select distinct i.lead_id, i.reason, cast(:now as timestamptz)
from _incoming as i
where not exists (select 1 from consent_holds as h where h.lead_id = i.lead_id);

update transfers
set
    status = 'failed',
    last_error = i.reason
from _incoming as i
where transfers.lead_id = i.lead_id and transfers.status = 'pending';
