-- everything recorded about one lead: its outcome rows and its latest decision.
-- The rows are those that link to the lead (o.lead_id) and the lead's own row,
-- which links to the new lead when a corrected re-import replaced it
with

latest_decision as (
    select
        lead_id,
        group_id,
        chosen_partner,
        row_number() over (partition by lead_id order by g.decided_at desc) as rank
    from decisions
    inner join decision_groups as g using (group_id)
    where lead_id = :lead_id
),

final as (
    select
        o.file_id,
        o.source_row,
        o.outcome,
        o.rule,
        o.reason,
        o.run_id,
        o.lead_id as linked_lead_id,
        origin.lead_id as row_lead_id,
        f.file_name,
        f.profile,
        l.score,
        l.country,
        l.industry,
        l.product,
        d.chosen_partner,
        d.group_id,
        g.candidates,
        g.exclusions,
        g.rules_version,
        g.config_digest
    from row_outcomes as o
    left join source_files as f on f.file_id = o.file_id
    left join leads as origin
        on origin.file_id = o.file_id and origin.source_row = o.source_row
    left join leads as l on l.lead_id = :lead_id
    left join latest_decision as d on d.rank = 1
    left join decision_groups as g on g.group_id = d.group_id
    left join runs as r on r.run_id = o.run_id
    where o.lead_id = :lead_id or origin.lead_id = :lead_id
    -- run ids are random, so the runs' start times give the order of events
    order by r.started_at, o.file_id, o.source_row
)

select * from final
