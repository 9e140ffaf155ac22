-- strategic leads waiting for a human, oldest first
select a.lead_id, a.proposed_partner, a.note, a.created_at, l.company, l.country
from approvals as a
inner join leads as l on l.lead_id = a.lead_id
where a.status = 'pending'
order by a.created_at, a.lead_id
