-- the warnings that earlier attempts of a run stored (a JSON list, or null)
select warnings
from runs
where run_id = :run_id
