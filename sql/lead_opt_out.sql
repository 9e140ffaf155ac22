-- the suppression entry that covers a lead (its e-mail key or phone), if any
select s.kind, s.source, s.suppressed_at
from leads as l
inner join suppression as s on s.key in (l.email_key, l.phone_e164)
where l.lead_id = :lead_id
order by s.suppressed_at
limit 1
