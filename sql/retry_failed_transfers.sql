-- put failed transfers back in the outbox, due at once: those of :partner_id and
-- of :lead_id, where null means any. A transfer whose person opted out since stays
-- failed. The next run sends each one with its first webhook-id
with

opted_out as (
    select l.lead_id
    from leads as l
    inner join suppression as s on s.key in (l.email_key, l.phone_e164)
    where l.lead_id in (select lead_id from transfers where status = 'failed')
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
returning transfer_id, lead_id, partner_id
