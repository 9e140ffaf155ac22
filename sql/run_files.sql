-- lead files handled by one run (one row per file)
select file_id, file_name, profile, status, reason, rows_in
from source_files
where run_id = :run_id
order by file_name
