-- everything recorded about one lead: its outcome rows and its latest decision
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
    left join leads as l on l.lead_id = o.lead_id
    left join latest_decision as d on d.lead_id = o.lead_id and d.rank = 1
    left join decision_groups as g on g.group_id = d.group_id
    left join runs as r on r.run_id = o.run_id
    where o.lead_id = :lead_id
    -- run ids are random, so the runs' start times give the order of events
    order by r.started_at, o.file_id, o.source_row
)

select * from final
