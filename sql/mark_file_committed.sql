update source_files
set committed_at = :committed_at
where file_id = :file_id
