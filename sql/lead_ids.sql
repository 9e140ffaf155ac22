-- Lead ids of one file's rows: 'L-' and the first 16 hex digits of sha256('<file_id>:<row>').
-- Runs in an in-memory DuckDB over the registered table _rows(r), in its order.
SELECT 'L-' || left(sha256($file_id || ':' || CAST(r AS VARCHAR)), 16) AS id
FROM _rows
