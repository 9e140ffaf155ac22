-- the fields that the approval checks read, for each lead in _incoming (lead_id),
-- whether a suppression entry covers the lead's e-mail key or phone, and the
-- reason of its consent hold (null when none)
select
    l.lead_id,
    l.country,
    l.region,
    l.industry,
    l.product,
    l.postcode,
    l.email_key,
    l.last_activity_at,
    l.annual_revenue,
    l.company_size,
    l.company_key,
    l.score,
    exists (
        select 1 from suppression as s where s.key in (l.email_key, l.phone_e164)
    ) as opted_out,
    (
        select min(h.reason) from consent_holds as h where h.lead_id = l.lead_id
    ) as consent_hold
from _incoming as i
inner join leads as l on l.lead_id = i.lead_id
