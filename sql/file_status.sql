-- the recorded status of one lead file, by content hash
select file_id, status, reason, committed_at, run_id
from source_files
where file_id = :file_id
