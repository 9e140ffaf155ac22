-- insert or update one lead file's record (one row per file content hash)
insert into source_files (
    file_id, file_name, profile, encoding, delimiter, rows_in, status, reason,
    run_id, received_at
)
values (
    :file_id, :file_name, :profile, :encoding, :delimiter, :rows_in, :status,
    :reason, :run_id, :received_at
)
on conflict (file_id) do update set
    status = excluded.status,
    reason = excluded.reason,
    rows_in = excluded.rows_in,
    encoding = excluded.encoding,
    delimiter = excluded.delimiter,
    run_id = excluded.run_id
