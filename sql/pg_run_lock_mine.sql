-- PostgreSQL only: whether the session :pid still holds the run lock :key (see
-- pg_run_lock_held). It does not once its connection was closed by the server,
-- such as by idle_session_timeout, a restart or pg_terminate_backend
select exists (
    select 1
    from pg_locks
    where
        locktype = 'advisory'
        and granted
        and objsubid = 1
        and pid = :pid
        and database = (select oid from pg_database where datname = current_database())
        and (classid::bigint << 32) | objid::bigint = :key
) as held
