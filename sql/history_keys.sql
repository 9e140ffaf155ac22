-- the dedup keys of every lead we hold (one row per lead), oldest first so a
-- duplicate links to the earliest lead
select
    lead_id,
    profile as source,
    external_id,
    email_key,
    phone_e164,
    name_key,
    company_key,
    postcode,
    created_at
from leads
order by created_at, file_id, source_row
