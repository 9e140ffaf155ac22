-- keep the first opt-out of each identity in _incoming; a later one never
-- replaces it
insert into suppression (key, kind, reason, source, suppressed_at)
select key, kind, reason, source, suppressed_at
from _incoming
on conflict (key) do nothing
