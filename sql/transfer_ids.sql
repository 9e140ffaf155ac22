-- Message ids of (lead, partner) pairs: 'msg_' and the first 24 hex digits of
-- sha256('<lead_id>:<partner_id>'). Runs in an in-memory DuckDB over _pairs(lead, partner).
SELECT 'msg_' || left(sha256(lead || ':' || partner), 24) AS id
FROM _pairs
