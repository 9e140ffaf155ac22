-- leads that found no partner with capacity (or none eligible) since :since and
-- have no transfer other than failed ones; one row per lead, oldest first. The
-- fields that the rules read (exclusions, freshness, strategic account) come too,
-- so that the run can check the leads against the current rules before matching
-- them again.
-- The profile selects the number format that annual revenue is read in.
-- A lead sent back by `leadshare transfer reoffer` has failed transfers only, and
-- rejected_by lists their partners (comma-separated), which the match leaves out.
select
    l.lead_id,
    l.profile,
    l.country as country_code,
    l.region,
    l.industry,
    l.product,
    l.postcode,
    l.score,
    l.email_key,
    l.last_activity_at,
    l.annual_revenue,
    l.company_size,
    l.company_key,
    (
        select string_agg(t.partner_id, ',')
        from transfers as t
        where t.lead_id = l.lead_id and t.status = 'failed'
    ) as rejected_by
from row_outcomes as o
inner join leads as l on l.lead_id = o.lead_id
where
    o.outcome = 'no_eligible_partner'
    and l.created_at >= :since
    and not exists (
        select 1 from transfers as t
        where t.lead_id = l.lead_id and t.status <> 'failed'
    )
    and not exists (
        select 1 from suppression as s where s.key in (l.email_key, l.phone_e164)
    )
    and not exists (select 1 from consent_holds as h where h.lead_id = l.lead_id)
order by l.created_at, l.file_id, l.source_row
