-- PostgreSQL only: whether a session holds the run lock of pg_try_run_lock now:
-- the session :pid, or any session when :pid is null. A session's lock ends with
-- it, such as by idle_session_timeout, a restart or pg_terminate_backend. A bigint
-- advisory key shows in pg_locks as its high half (classid) and low half (objid)
-- with objsubid 1.
select exists (
    select 1
    from pg_locks
    where
        locktype = 'advisory'
        and granted
        and objsubid = 1
        and (cast(:pid as integer) is null or pid = :pid)
        and database = (select oid from pg_database where datname = current_database())
        and (classid::bigint << 32) | objid::bigint = :key
) as held
