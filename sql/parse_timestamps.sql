-- Parse ISO 8601 text to UTC timestamps, one value at a time: a value without an
-- offset is UTC, and a value that does not parse is NULL. So are 'infinity' and
-- years past 9999, which Python's datetime cannot format. has_text separates a
-- blank value (NULL or only spaces) from one that failed to parse. Runs over
-- _values(v).
WITH parsed AS (
    SELECT
        TRY_CAST(trim(v) AS TIMESTAMPTZ) AS parsed_at,
        coalesce(trim(v) <> '', false) AS has_text
    FROM _values
)

SELECT
    CASE
        WHEN isfinite(parsed_at) AND year(parsed_at) BETWEEN 1 AND 9999 THEN parsed_at
    END AS at,
    has_text
FROM parsed
