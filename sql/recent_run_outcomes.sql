-- the current outcomes of the rows of the latest runs, one row per run and
-- outcome. Opt-outs, approvals and later matching can change them after a run.
select o.run_id, o.outcome, count(*) as n
from row_outcomes as o
inner join (
    select run_id
    from runs
    order by started_at desc
    limit :limit
) as r on r.run_id = o.run_id
group by o.run_id, o.outcome
