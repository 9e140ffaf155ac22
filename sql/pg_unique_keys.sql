-- PostgreSQL only: the keys of the tables that sql/schema.sql leaves without a
-- primary key. Stores made when these tables had primary keys already have
-- indexes of these names (PostgreSQL names a primary key's index <table>_pkey),
-- so nothing is added to them.
create unique index if not exists leads_pkey on leads (lead_id);
create unique index if not exists row_outcomes_pkey
on row_outcomes (file_id, source_row);
create unique index if not exists decisions_pkey on decisions (lead_id, run_id);
