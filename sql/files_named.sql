-- the recorded lead files with this id or name, newest first. The name is the one
-- the inbox gave the file, which `share` may have suffixed to keep it free
select file_id, file_name, profile, status, reason, rows_in, run_id, received_at,
    committed_at
from source_files
where file_id = :file_id or file_name = :file_name
order by received_at desc, file_name
