-- Withdraw what is still queued for people on the suppression list: their pending
-- transfers, their pending approvals, and their rows waiting for a partner. Runs
-- after new suppressions are added. A lead a partner already received is kept as
-- it is. The opted-out leads are those whose e-mail key or phone is suppressed.

-- the rows of those leads: suppressed, unless a transfer was sent, failed or
-- withdrawn before (statement order matters: transfers are withdrawn last)
update row_outcomes
set
    outcome = 'suppressed',
    rule = 'opted_out_before_delivery',
    reason = 'the person opted out before the lead reached a partner'
where
    outcome in ('shared', 'awaiting_approval', 'no_eligible_partner')
    and lead_id in (
        select l.lead_id
        from leads as l
        inner join suppression as s on s.key = l.email_key
        union all
        select l.lead_id
        from leads as l
        inner join suppression as s on s.key = l.phone_e164
    )
    and not exists (
        select 1
        from transfers as t
        where t.lead_id = row_outcomes.lead_id and t.status <> 'pending'
    );

update approvals
set
    status = 'withdrawn',
    decided_by = 'leadshare',
    note = 'the person opted out before a decision',
    decided_at = :now
where
    status = 'pending'
    and lead_id in (
        select l.lead_id
        from leads as l
        inner join suppression as s on s.key = l.email_key
        union all
        select l.lead_id
        from leads as l
        inner join suppression as s on s.key = l.phone_e164
    );

update transfers
set
    status = 'withdrawn',
    last_error = 'the person opted out before delivery'
where
    status = 'pending'
    and lead_id in (
        select l.lead_id
        from leads as l
        inner join suppression as s on s.key = l.email_key
        union all
        select l.lead_id
        from leads as l
        inner join suppression as s on s.key = l.phone_e164
    );
