-- PostgreSQL only: release the session-level run lock taken by pg_try_run_lock
select pg_advisory_unlock(:key) as released
