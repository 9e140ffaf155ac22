-- the backlog leads in _incoming (lead_id, reason) found a partner this run
update row_outcomes
set outcome = 'shared', rule = 'matched', reason = i.reason
from _incoming as i
where row_outcomes.lead_id = i.lead_id and row_outcomes.outcome = 'no_eligible_partner'
