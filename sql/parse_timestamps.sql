-- Parse ISO 8601 text to UTC timestamps, one value at a time: a value without an
-- offset is UTC, and a value that does not parse is NULL. Some values that DuckDB
-- reads are NULL too. 'epoch' and 'today' do not start with a four-digit year.
-- DuckDB reads +25:00 as a day and an hour, so offsets past +/-14:00, or with
-- minutes past 59, are refused. Python's datetime cannot format 'infinity' or years
-- past 9999. has_text separates a blank value (NULL or only spaces) from one that
-- failed to parse. Runs over _values(v).
WITH trimmed AS (
    SELECT trim(v) AS t
    FROM _values
),

parsed AS (
    SELECT
        TRY_CAST(t AS TIMESTAMPTZ) AS parsed_at,
        coalesce(t <> '', false) AS has_text,
        regexp_matches(t, '^[0-9]{4}') AS starts_with_year,
        -- The hours and minutes of a trailing numeric offset after a time of day;
        -- '' when there is none. A date alone ends in '-DD', which is no offset.
        regexp_extract(
            t, '[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?\s*[+-]([0-9]{2}):?([0-9]{2})?$', 1
        ) AS offset_hours,
        regexp_extract(
            t, '[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?\s*[+-]([0-9]{2}):?([0-9]{2})?$', 2
        ) AS offset_minutes
    FROM trimmed
)

SELECT
    CASE
        WHEN
            starts_with_year
            AND isfinite(parsed_at)
            AND year(parsed_at) BETWEEN 1 AND 9999
            AND (offset_hours = '' OR offset_hours::INTEGER <= 14)
            AND (offset_minutes = '' OR offset_minutes::INTEGER <= 59)
            THEN parsed_at
    END AS at,
    has_text
FROM parsed
