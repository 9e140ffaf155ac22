-- a file whose content was processed before, found again in the inbox by this run
insert into skipped_files (
    run_id, file_id, file_name, profile, earlier_status, skipped_at
)
values (:run_id, :file_id, :file_name, :profile, :earlier_status, :skipped_at)
on conflict (run_id, file_id, file_name) do nothing
