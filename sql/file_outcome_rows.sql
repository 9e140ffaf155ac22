-- rows of one file that already have an outcome. A file is committed once, so
-- any row here means that its outcomes would be written twice
select count(*) as n
from row_outcomes
where file_id = :file_id
