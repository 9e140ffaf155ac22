-- files one run skipped because an earlier run, or this one under another name or
-- in another profile's folder, processed their content. A file that a crashed run
-- left in the inbox is not listed when this run took that run over, because its
-- rows are this run's.
select
    s.file_name,
    s.earlier_status,
    f.file_name as earlier_name,
    f.profile as earlier_profile,
    f.run_id as earlier_run
from skipped_files s
join source_files f on f.file_id = s.file_id
where s.run_id = :run_id
    and (
        f.run_id <> s.run_id
        or f.file_name <> s.file_name
        or f.profile <> s.profile
    )
order by s.file_name
