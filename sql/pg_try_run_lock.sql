-- PostgreSQL only: take the session-level run lock if it is free; true when taken
select pg_try_advisory_lock(:key) as locked
