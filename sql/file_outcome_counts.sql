-- how many rows of one file ended in each outcome
select outcome, count(*) as n
from row_outcomes
where file_id = :file_id
group by outcome
