-- one outcome per batch row; a duplicate row points at the lead it repeats
insert into row_outcomes (file_id, source_row, outcome, rule, reason, lead_id, run_id)
select
    :file_id,
    _row,
    outcome,
    rule,
    reason,
    case when outcome = 'duplicate' then duplicate_of else lead_id end,
    :run_id
from _incoming
