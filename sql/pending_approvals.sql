-- leads waiting for a human (strategic accounts, and leads whose company size or
-- revenue could not be read), oldest first
select a.lead_id, a.proposed_partner, a.note, a.created_at, l.company, l.country
from approvals as a
inner join leads as l on l.lead_id = a.lead_id
where a.status = 'pending'
order by a.created_at, a.lead_id
