-- the batch rows that become leads we hold: shared, waiting for approval, or waiting
-- for a partner (duplicates link to an existing lead instead); _incoming is the batch
insert into leads (
    lead_id, file_id, source_row, profile, external_id, email, email_key,
    first_name, last_name, company, job_title, phone, phone_e164, country, region,
    postcode, city, industry, product, company_size, annual_revenue, lead_source,
    engagement, last_activity_at, website, notes, name_key, company_key, score,
    consent_share, consent_source, consent_at, created_at, do_not_call
)
select
    lead_id, :file_id, _row, :profile, external_id, email, email_key,
    first_name, last_name, company, job_title, phone, phone_e164, country_code,
    region, postcode, city, industry, product, company_size, annual_revenue,
    lead_source, engagement, last_activity_at, website, notes, name_key,
    company_key, score, consent_share, consent_source, consent_at, :created_at,
    cast(do_not_call_flag as boolean)
from _incoming
where outcome in ('shared', 'awaiting_approval', 'no_eligible_partner')
