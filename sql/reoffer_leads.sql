-- send the leads in _incoming (lead_id, reason) back to the backlog, whose next
-- match leaves out the partners that failed their transfers
update row_outcomes
set outcome = 'no_eligible_partner', rule = 'rejected_by_partner', reason = i.reason
from _incoming as i
where row_outcomes.lead_id = i.lead_id and row_outcomes.outcome = 'shared'
