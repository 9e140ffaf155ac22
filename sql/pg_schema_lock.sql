-- PostgreSQL only: wait for the schema lock, held until this transaction ends, so
-- that processes opening a new database create its tables one at a time
select pg_advisory_xact_lock(:key) as locked
