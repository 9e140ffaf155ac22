-- the dedup keys of every lead we hold (one row per lead)
select
    lead_id,
    profile,
    external_id,
    email_key,
    phone_e164,
    name_key,
    company_key,
    postcode
from leads
