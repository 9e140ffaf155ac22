-- leads that a partner had received before their person opted out in run
-- :run_id (over all its attempts), so the partner needs a notice. One row per
-- partner and lead
with

run_start as (
    select started_at
    from runs
    where run_id = :run_id
),

new_keys as (
    select s.key
    from suppression as s
    inner join run_start as r on s.suppressed_at >= r.started_at
),

opted_out as (
    select l.lead_id
    from leads as l
    inner join new_keys as k on k.key = l.email_key
    union
    select l.lead_id
    from leads as l
    inner join new_keys as k on k.key = l.phone_e164
    union
    select l.lead_id
    from leads as l
    inner join new_keys as k
        on k.key = 'ext:' || l.profile || ':' || trim(l.external_id)
)

select t.partner_id, t.lead_id
from transfers as t
inner join opted_out as o on o.lead_id = t.lead_id
inner join run_start as r on t.sent_at < r.started_at
where t.status = 'sent'
order by t.partner_id, t.lead_id
