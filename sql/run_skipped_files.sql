-- files one run skipped because their content was processed before
select s.file_name, s.earlier_status, f.file_name as earlier_name, f.run_id as earlier_run
from skipped_files s
join source_files f on f.file_id = s.file_id
where s.run_id = :run_id and f.run_id <> s.run_id
order by s.file_name
