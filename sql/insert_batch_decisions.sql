-- the matching decision of every batch row that went through matching
insert into decisions (lead_id, run_id, group_id, chosen_partner, outcome, reason)
select lead_id, :run_id, group_id, partner_id, outcome, reason
from _incoming
where group_id is not null
