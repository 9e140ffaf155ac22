-- the fields that partner eligibility and the qualification rules read, for one lead
select
    lead_id,
    country,
    region,
    industry,
    product,
    postcode,
    email_key,
    last_activity_at,
    annual_revenue,
    company_size,
    company_key,
    score
from leads
where lead_id = :lead_id
