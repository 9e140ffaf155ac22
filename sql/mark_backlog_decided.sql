-- record the new outcome of each backlog lead in _incoming (lead_id, outcome,
-- rule, reason), which is shared, awaiting_approval or disqualified
update row_outcomes
set outcome = i.outcome, rule = i.rule, reason = i.reason
from _incoming as i
where row_outcomes.lead_id = i.lead_id and row_outcomes.outcome = 'no_eligible_partner'
