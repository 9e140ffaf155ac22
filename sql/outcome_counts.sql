-- outcomes of the rows of the given run (one row per outcome)
select outcome, count(*) as n
from row_outcomes
where run_id = :run_id
group by outcome
order by outcome
