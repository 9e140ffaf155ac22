-- PostgreSQL only: whether any session holds the run lock of pg_try_run_lock now.
-- A bigint advisory key shows in pg_locks as its high half (classid) and low half
-- (objid) with objsubid 1.
select exists (
    select 1
    from pg_locks
    where
        locktype = 'advisory'
        and granted
        and objsubid = 1
        and database = (select oid from pg_database where datname = current_database())
        and (classid::bigint << 32) | objid::bigint = :key
) as held
