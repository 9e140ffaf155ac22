-- failed transfers of :partner_id and of :lead_id (null means any) whose lead can
-- go to another partner. Such a lead is still shared in its row outcome, was not
-- sent to another partner, did not opt out and is not held for unclear consent
-- (a held transfer failed without a send, see hold_unclear_consent.sql).
-- in_window is false for a lead read before :since, which the backlog no longer
-- offers
select
    t.lead_id,
    t.partner_id,
    t.last_error,
    l.created_at >= :since as in_window
from transfers as t
inner join leads as l on t.lead_id = l.lead_id
where
    t.status = 'failed'
    and (cast(:partner_id as text) is null or t.partner_id = :partner_id)
    and (cast(:lead_id as text) is null or t.lead_id = :lead_id)
    and exists (
        select 1 from row_outcomes as o
        where o.lead_id = t.lead_id and o.outcome = 'shared'
    )
    and not exists (
        select 1 from transfers as other
        where other.lead_id = t.lead_id and other.status <> 'failed'
    )
    and not exists (
        select 1 from suppression as s where s.key in (l.email_key, l.phone_e164)
    )
    and not exists (select 1 from consent_holds as h where h.lead_id = t.lead_id)
order by t.lead_id, t.partner_id
