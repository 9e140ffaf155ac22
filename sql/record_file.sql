-- insert or update one lead file's record (one row per file content hash)
-- NOTE: a copy rejected under another profile earlier in the same run loses its
-- record here when a later copy is committed, so the run summary lists only the
-- committed copy. The rejected copy keeps its .reason.txt in quarantine/.
insert into source_files (
    file_id, file_name, profile, encoding, delimiter, rows_in, status, reason,
    run_id, received_at
)
values (
    :file_id, :file_name, :profile, :encoding, :delimiter, :rows_in, :status,
    :reason, :run_id, :received_at
)
on conflict (file_id) do update set
    file_name = excluded.file_name,
    profile = excluded.profile,
    status = excluded.status,
    reason = excluded.reason,
    rows_in = excluded.rows_in,
    encoding = excluded.encoding,
    delimiter = excluded.delimiter,
    run_id = excluded.run_id
