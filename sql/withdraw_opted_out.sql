-- Withdraw what is still queued for people on the suppression list: their pending
-- transfers, their pending approvals, and their rows waiting for a partner. Runs
-- after new suppressions are added. A lead a partner already received is kept as
-- it is.

-- the leads whose e-mail key, phone or external-id key (ext:<profile>:<id>, see
-- consent.external_keys) is suppressed, and the held leads in _incoming
-- (lead_id) that an opted-out row linked to by another key (name and company)
drop table if exists opted_out_leads;

create temporary table opted_out_leads as
select l.lead_id
from leads as l
inner join suppression as s on s.key = l.email_key
union
select l.lead_id
from leads as l
inner join suppression as s on s.key = l.phone_e164
union
select l.lead_id
from leads as l
inner join suppression as s
    on s.key = 'ext:' || l.profile || ':' || trim(l.external_id)
where s.kind = 'external_id'
union
select i.lead_id
from _incoming as i;

-- the rows of those leads: suppressed, unless a transfer was sent, failed or
-- withdrawn before (statement order matters: transfers are withdrawn last)
update row_outcomes
set
    outcome = 'suppressed',
    rule = 'opted_out_before_delivery',
    reason = 'the person opted out or refused consent before the lead reached a partner'
where
    outcome in ('shared', 'awaiting_approval', 'no_eligible_partner')
    and lead_id in (select lead_id from opted_out_leads)
    and not exists (
        select 1
        from transfers as t
        where t.lead_id = row_outcomes.lead_id and t.status <> 'pending'
    );

update approvals
set
    status = 'withdrawn',
    decided_by = 'leadshare',
    note = 'the person opted out or refused consent before a decision',
    decided_at = :now
where
    status = 'pending'
    and lead_id in (select lead_id from opted_out_leads);

update transfers
set
    status = 'withdrawn',
    last_error = 'the person opted out or refused consent before delivery'
where
    status = 'pending'
    and lead_id in (select lead_id from opted_out_leads);

drop table opted_out_leads;
