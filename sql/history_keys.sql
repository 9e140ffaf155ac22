-- the dedup keys of every lead we hold (one row per lead), oldest first so a
-- duplicate links to the earliest lead. A lead that a corrected re-import
-- replaced (its own row is now a duplicate) is left out, so later rows link to
-- the lead that replaced it
select
    l.lead_id,
    l.profile as source,
    l.external_id,
    l.email_key,
    l.phone_e164,
    l.name_key,
    l.company_key,
    l.postcode,
    l.created_at
from leads as l
where not exists (
    select 1
    from row_outcomes as o
    where
        o.file_id = l.file_id
        and o.source_row = l.source_row
        and o.outcome = 'duplicate'
)
order by l.created_at, l.file_id, l.source_row
