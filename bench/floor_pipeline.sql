-- Floor for the set-based stages: the whole path from lead file to placements as
-- one DuckDB statement, to compare the product's stages against.
-- Grain of placements: one row per lead placed with a partner within capacity.
-- Parameters: $as_of (timestamptz), $fresh_days (integer), $threshold (minimum
-- score). Two relations must exist:
-- raw_source: the lead file, every column as text. bench.py makes it a view over
--   read_csv (floor_pipeline: DuckDB then parses only the columns used here) or a
--   table loaded from the file (floor_pipeline_stored: every column is parsed and
--   written, as the product stores every lead).
-- bench_partners: partner_id, countries varchar[], industries varchar[]
--   (empty = any), capacity integer, weight double.
create or replace table placements as

with

raw_leads as (
    select *
    from raw_source
),

partners as (
    select
        partner_id,
        unnest(countries) as country_code,
        industries,
        capacity,
        weight,
    from bench_partners
),

cleaned as (
    select
        external_id,
        lower(trim(email)) as email_key,
        upper(trim(country)) as country_text,
        case
            when lower(trim(industry)) in ('', 'select', 'n/a', '-', 'null') then null
            else lower(trim(industry))
        end as industry,
        lower(trim(consent_share)) as consent_share,
        lower(trim(do_not_email)) as do_not_email,
        lower(trim(lead_source)) as lead_source,
        lower(job_title) as job_title,
        try_cast(engagement as integer) as engagement,
        try_cast(company_size as integer) as company_size,
        try_cast(last_activity_at as timestamptz) as last_activity_at,
    from raw_leads
),

normalised as (
    select
        * exclude (country_text),
        case
            when country_text in ('GERMANY', 'DEUTSCHLAND') then 'DE'
            when country_text in ('UK', 'UNITED KINGDOM', 'GREAT BRITAIN') then 'GB'
            when country_text in ('USA', 'U.S.', 'UNITED STATES') then 'US'
            when country_text in ('HOLLAND', 'NETHERLANDS', 'THE NETHERLANDS') then 'NL'
            when country_text in ('AUSTRIA', 'ÖSTERREICH') then 'AT'
            when country_text in ('SWITZERLAND', 'SCHWEIZ') then 'CH'
            when country_text = 'FRANCE' then 'FR'
            when country_text in ('SPAIN', 'ESPAÑA') then 'ES'
            when country_text in ('ITALY', 'ITALIA') then 'IT'
            when country_text in ('SWEDEN', 'SVERIGE') then 'SE'
            else country_text
        end as country_code,
    from cleaned
    where email_key like '%_@_%._%'
),

deduplicated as (
    select *
    from normalised
    qualify row_number() over (
        partition by email_key
        order by last_activity_at desc nulls last, external_id
    ) = 1
),

consented as (
    select *
    from deduplicated
    where
        consent_share = 'yes'
        and coalesce(do_not_email, '') not in ('true', 'yes')
),

scored as (
    select
        *,
        case when engagement >= 50 then 20 else 0 end
        + case
            when last_activity_at >= $as_of - to_days($fresh_days) then 20
            else 0
        end
        + case when company_size >= 50 then 15 else 0 end
        + case when lead_source in ('referral', 'partner', 'event') then 10 else 0 end
        + case
            when regexp_matches(job_title, '\b(head|director|chief|vp|cto|cio|cfo)\b')
                then 15
            else 0
        end as score,
    from consented
),

candidates as (
    select
        scored.external_id,
        scored.email_key,
        scored.score,
        partners.partner_id,
        partners.capacity,
        scored.score * partners.weight as fit,
    from scored
    inner join partners
        on scored.country_code = partners.country_code
    where
        scored.score >= $threshold
        and (
            len(partners.industries) = 0
            or list_contains(partners.industries, scored.industry)
        )
),

best_partner as (
    select *
    from candidates
    qualify row_number() over (
        partition by external_id
        order by fit desc, partner_id
    ) = 1
),

ranked as (
    select
        *,
        row_number() over (
            partition by partner_id
            order by score desc, external_id
        ) as partner_rank,
    from best_partner
),

final as (
    select
        external_id,
        email_key,
        partner_id,
        score,
        partner_rank,
    from ranked
    where partner_rank <= capacity
)

select * from final
