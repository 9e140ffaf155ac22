-- replace held leads by the corrected batch rows in _incoming (lead_id, replaces,
-- reason), one row per replacing row. The held lead's own row leaves the backlog
-- as a duplicate of the new lead, unless it no longer waits for a partner
update row_outcomes
set
    outcome = 'duplicate',
    rule = 'replaced_by_reimport',
    reason = i.reason,
    lead_id = i.lead_id
from _incoming as i
where
    row_outcomes.lead_id = i.replaces
    and row_outcomes.outcome = 'no_eligible_partner'
