-- Parse ISO 8601 text to UTC timestamps, one value at a time: a value without an
-- offset is UTC, and a value that does not parse is NULL. Runs over _values(v).
SELECT TRY_CAST(v AS TIMESTAMPTZ) AS at
FROM _values
