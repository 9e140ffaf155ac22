-- failed transfers of :partner_id and of :lead_id (null means any) whose person
-- opted out since they failed: these are never sent again
select count(*) as n
from transfers as t
inner join leads as l on t.lead_id = l.lead_id
where
    t.status = 'failed'
    and (cast(:partner_id as text) is null or t.partner_id = :partner_id)
    and (cast(:lead_id as text) is null or t.lead_id = :lead_id)
    and exists (
        select 1 from suppression as s where s.key in (l.email_key, l.phone_e164)
    )
