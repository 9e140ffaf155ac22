-- PostgreSQL only: the transaction lock that orders a run's writes against a run
-- that takes over the run lock. Each transaction of a run takes it in shared mode. A run
-- that has just taken the run lock waits for it exclusively, so that the writes
-- of an earlier run that lost its lock have ended
select pg_advisory_xact_lock_shared(:key)
