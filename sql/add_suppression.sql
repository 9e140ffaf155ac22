-- keep the first opt-out of an identity; a later one never replaces it
insert into suppression (key, kind, reason, source, suppressed_at)
values (:key, :kind, :reason, :source, :suppressed_at)
on conflict (key) do nothing
