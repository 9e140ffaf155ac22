-- held leads in _incoming (lead_id) whose person a later row marks do-not-call;
-- their phone then reaches no partner (see due_transfers.sql)
update leads
set do_not_call = true
where lead_id in (select i.lead_id from _incoming as i)
