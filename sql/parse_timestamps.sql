-- Parse ISO 8601 text to UTC timestamps, one value at a time: a value without an
-- offset is UTC, and a value that does not parse is NULL. DuckDB also reads words
-- such as 'epoch', zone names such as CET, and +25:00 as a day and an hour. So a
-- value must first have the ISO 8601 extended form (a space may replace the T),
-- and its offset must be at most 14:00. Python's datetime cannot format
-- 'infinity' or years past 9999, so those are NULL too. has_text separates a blank
-- value (NULL or only spaces) from one that failed to parse. Runs over _values(v).
WITH trimmed AS (
    SELECT trim(v) AS t
    FROM _values
),

parsed AS (
    SELECT
        TRY_CAST(t AS TIMESTAMPTZ) AS parsed_at,
        coalesce(t <> '', false) AS has_text,
        regexp_full_match(
            t,
            '[0-9]{4}-[0-9]{2}-[0-9]{2}'
            || '([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?'
            || '\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?'
        ) AS iso_form,
        -- The hours and minutes of a trailing numeric offset; '' when there is none.
        regexp_extract(t, '[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?\s*[+-]([0-9]{2}):?([0-9]{2})?$', 1)
            AS offset_hours,
        regexp_extract(t, '[0-9]:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?\s*[+-]([0-9]{2}):?([0-9]{2})?$', 2)
            AS offset_minutes
    FROM trimmed
)

SELECT
    CASE
        WHEN
            iso_form
            AND isfinite(parsed_at)
            AND year(parsed_at) BETWEEN 1 AND 9999
            AND (offset_minutes = '' OR offset_minutes::INTEGER <= 59)
            AND (
                offset_hours = ''
                OR offset_hours::INTEGER * 60 + coalesce(nullif(offset_minutes, '')::INTEGER, 0)
                <= 14 * 60
            )
            THEN parsed_at
    END AS at,
    has_text
FROM parsed
