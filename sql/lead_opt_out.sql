-- the first suppression entry that covers a lead (its e-mail key, phone or source
-- id), if any
select s.kind, s.reason, s.source, s.suppressed_at
from leads as l
inner join suppression as s
    on s.key in (
        l.email_key, l.phone_e164, 'ext:' || l.profile || ':' || trim(l.external_id)
    )
where l.lead_id = :lead_id
order by
    s.suppressed_at,
    case s.kind when 'email' then 0 when 'phone' then 1 else 2 end
limit 1
