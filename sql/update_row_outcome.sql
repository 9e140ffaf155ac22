update row_outcomes
set outcome = :outcome, rule = :rule, reason = :reason
where lead_id = :lead_id and outcome = 'awaiting_approval'
