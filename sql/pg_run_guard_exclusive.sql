-- PostgreSQL only: wait until no transaction of another run holds pg_run_guard
select pg_advisory_xact_lock(:key)
