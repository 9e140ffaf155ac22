-- the outcomes that the rows of the latest runs have now (one row per run and
-- outcome); opt-outs, approvals and later matching change them after a run
select o.run_id, o.outcome, count(*) as n
from row_outcomes as o
inner join (
    select run_id
    from runs
    order by started_at desc
    limit :limit
) as r on r.run_id = o.run_id
group by o.run_id, o.outcome
