-- one row per held lead in _incoming (lead_id) that a corrected re-import may
-- replace, with its stored data. Such a lead still waits for a partner, was never
-- transferred, has no pending approval and is not suppressed
select
    l.lead_id,
    l.external_id,
    l.email,
    l.first_name,
    l.last_name,
    l.company,
    l.phone,
    l.email_key,
    l.name_key,
    l.company_key,
    l.job_title,
    l.phone_e164,
    l.country,
    l.region,
    l.postcode,
    l.city,
    l.industry,
    l.product,
    l.company_size,
    l.annual_revenue,
    l.lead_source,
    l.engagement,
    l.last_activity_at,
    l.website,
    l.notes,
    l.consent_share,
    l.consent_source,
    l.consent_at,
    l.do_not_call
from _incoming as i
inner join leads as l on l.lead_id = i.lead_id
inner join row_outcomes as o
    on o.file_id = l.file_id and o.source_row = l.source_row
where
    o.outcome = 'no_eligible_partner'
    and o.lead_id = l.lead_id
    and not exists (select 1 from transfers as t where t.lead_id = l.lead_id)
    and not exists (
        select 1
        from approvals as a
        where a.lead_id = l.lead_id and a.status = 'pending'
    )
    and not exists (
        select 1 from suppression as s where s.key in (l.email_key, l.phone_e164)
    )
