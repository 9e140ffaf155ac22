-- pending transfers of one partner that are due now, with the lead fields a
-- payload may use (one row per transfer)
select
    t.transfer_id,
    t.lead_id,
    t.partner_id,
    t.channel,
    t.attempts,
    t.failed_sends,
    t.payload,
    t.delivery_batch,
    t.created_at,
    -- the run that offered the lead to this partner, for the manual queue
    t.run_id,
    l.external_id,
    l.email,
    l.first_name,
    l.last_name,
    l.company,
    l.job_title,
    -- a person marked do-not-call reaches no partner with a phone number
    case when l.do_not_call then null else l.phone end as phone,
    case when l.do_not_call then null else l.phone_e164 end as phone_e164,
    l.country,
    l.region,
    l.postcode,
    l.city,
    l.industry,
    l.product,
    l.company_size,
    l.annual_revenue,
    l.lead_source,
    l.engagement,
    l.last_activity_at,
    l.website,
    l.notes,
    l.score,
    l.consent_share,
    l.consent_source,
    l.consent_at,
    -- not deliverable: delivery reads it to remove phone numbers from notes
    l.do_not_call
from transfers as t
inner join leads as l on l.lead_id = t.lead_id
where
    t.partner_id = :partner_id
    and t.status = 'pending'
    and (t.next_attempt_at is null or t.next_attempt_at <= :now)
    -- A committed opt-out withdraws the transfer already. This check also covers
    -- suppressions recorded before withdrawals existed.
    and not exists (
        select 1 from suppression as s where s.key in (l.email_key, l.phone_e164)
    )
-- transfers that never failed on their own go first, so a few that keep failing
-- cannot use up the partner's time budget of every run ahead of the rest. A 429
-- is not the transfer's failure, so after a back-off the older transfers go first
order by t.failed_sends, t.created_at, t.transfer_id
