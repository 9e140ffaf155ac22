-- put failed transfers back in the outbox, due at once: those of :partner_id and
-- of :lead_id, where null means any. A transfer whose person opted out since stays
-- failed, and so does one whose lead went back to the backlog (`leadshare transfer
-- reoffer`) or has a later transfer to another partner. The next run sends each
-- one with its first webhook-id
with

opted_out as (
    select l.lead_id
    from leads as l
    inner join suppression as s on s.key in (l.email_key, l.phone_e164)
    where l.lead_id in (select lead_id from transfers where status = 'failed')
),

moved_on as (
    select lead_id
    from transfers
    where status <> 'failed'
    union
    select lead_id
    from row_outcomes
    where rule = 'rejected_by_partner' and lead_id is not null
),

superseded as (
    select earlier.transfer_id
    from transfers as earlier
    inner join transfers as later
        on later.lead_id = earlier.lead_id and later.created_at > earlier.created_at
)

update transfers
set
    status = 'pending',
    next_attempt_at = null,
    failed_at = null,
    failed_by_run = null,
    failed_sends = 0
where
    status = 'failed'
    and (cast(:partner_id as text) is null or partner_id = :partner_id)
    and (cast(:lead_id as text) is null or lead_id = :lead_id)
    and lead_id not in (select lead_id from opted_out)
    and lead_id not in (select lead_id from moved_on)
    and transfer_id not in (select transfer_id from superseded)
returning transfer_id, lead_id, partner_id
