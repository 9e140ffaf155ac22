-- leadshare store schema. Keys are text (duckdb-engine has no SERIAL); every
-- statement is portable to PostgreSQL.
--
-- leads, row_outcomes and decisions get rows for every row of every file, so
-- they have no primary key here: in DuckDB their indexes made the commit of a
-- 1M-row file take 5.6 s instead of 4.0 s. Their keys are unique by
-- construction (a file's rows are written once, in one transaction, and a lead
-- id is made from the file and row), and the commit checks that the file has no
-- outcomes yet. PostgreSQL gets unique indexes on them (sql/pg_unique_keys.sql).

-- one row per lead file ever seen, keyed by the sha256 of its bytes
create table if not exists source_files (
    file_id text primary key,
    file_name text not null,
    profile text not null,
    encoding text,
    delimiter text,
    rows_in integer,
    status text not null,
    reason text,
    run_id text,
    received_at timestamptz not null,
    committed_at timestamptz
);

-- one row per sharing run (a Prefect flow run or a CLI run)
create table if not exists runs (
    run_id text primary key,
    flow_run_id text,
    started_at timestamptz not null,
    finished_at timestamptz,
    status text not null,
    files_in integer,
    rows_in integer,
    summary text
);

-- one row per distinct lead we hold; duplicates link here instead
create table if not exists leads (
    lead_id text not null,
    file_id text not null,
    source_row integer not null,
    profile text not null,
    external_id text,
    email text,
    email_key text,
    first_name text,
    last_name text,
    company text,
    job_title text,
    phone text,
    phone_e164 text,
    country text,
    region text,
    postcode text,
    city text,
    industry text,
    product text,
    company_size text,
    annual_revenue text,
    lead_source text,
    engagement text,
    last_activity_at text,
    website text,
    notes text,
    name_key text,
    company_key text,
    score double precision,
    consent_share text,
    consent_source text,
    consent_at text,
    created_at timestamptz not null,
    do_not_call boolean
);

-- stores made before do_not_call existed get it here
alter table leads add column if not exists do_not_call boolean;

-- exactly one row per input row: the outcome every row ends in
create table if not exists row_outcomes (
    file_id text not null,
    source_row integer not null,
    outcome text not null,
    rule text,
    reason text,
    lead_id text,
    run_id text not null
);

-- one row per suppressed identity (e-mail key or E.164 phone); never deleted
create table if not exists suppression (
    key text primary key,
    kind text not null,
    reason text not null,
    source text,
    suppressed_at timestamptz not null
);

-- one row per group of leads that had the same eligible partners in one run:
-- the candidates with their scores and why every other partner was excluded
create table if not exists decision_groups (
    group_id text primary key,
    run_id text not null,
    candidates text not null,
    exclusions text not null,
    rules_version text not null,
    config_digest text not null,
    decided_at timestamptz not null
);

-- one row per matching decision on a lead (a lead can be decided again later)
create table if not exists decisions (
    lead_id text not null,
    run_id text not null,
    group_id text,
    chosen_partner text,
    outcome text not null,
    reason text
);

-- one row per held lead (a strategic account, or a company size or revenue that
-- could not be read) waiting for, or decided by, a human
create table if not exists approvals (
    lead_id text primary key,
    proposed_partner text,
    status text not null,
    decided_partner text,
    decided_by text,
    note text,
    created_at timestamptz not null,
    decided_at timestamptz
);

-- one row per (lead, partner): the outbox and the delivery ledger
create table if not exists transfers (
    transfer_id text primary key,
    lead_id text not null,
    partner_id text not null,
    channel text not null,
    status text not null,
    attempts integer not null,
    next_attempt_at timestamptz,
    last_error text,
    payload text,
    delivery_batch text,
    run_id text not null,
    created_at timestamptz not null,
    sent_at timestamptz,
    unique (lead_id, partner_id)
);

-- one row per partner endpoint that was disabled (410 Gone)
create table if not exists endpoint_state (
    partner_id text primary key,
    disabled_at timestamptz not null,
    reason text not null
);

-- one row per partner endpoint that returned 429 Too Many Requests or failed
-- several sends in a row. No transfer to the partner is posted before
-- next_attempt_at, so newer leads cannot overtake the older ones waiting
create table if not exists endpoint_backoff (
    partner_id text primary key,
    next_attempt_at timestamptz not null,
    reason text not null
);

-- failed sends of a transfer, where a send is one call of the webhook client and
-- may make several HTTP attempts. They set its retry delay and move it behind
-- transfers that never failed. A 429 is not counted, because a rate limit is the
-- endpoint's state. Stores made before this column existed start from attempts.
alter table transfers add column if not exists failed_sends integer;
update transfers set failed_sends = attempts where failed_sends is null;

-- when a transfer became failed for good. Transfers that failed in stores made
-- before this column existed have none, so no run's summary counts them.
alter table transfers add column if not exists failed_at timestamptz;

-- the run that sent a transfer, or marked it failed for good. A run's summary
-- counts these, so a send made by another run between two attempts of a retried
-- run is not counted twice. Older rows have none.
alter table transfers add column if not exists sent_by_run text;
alter table transfers add column if not exists failed_by_run text;

-- one row per file a run found in the inbox with content processed before; the
-- file was archived without being read again
create table if not exists skipped_files (
    run_id text not null,
    file_id text not null,
    file_name text not null,
    earlier_status text not null,
    skipped_at timestamptz not null,
    primary key (run_id, file_id, file_name)
);
-- the profile folder the skipped file was in; null in stores made before this
-- column existed
alter table skipped_files add column if not exists profile text;

-- leads of earlier runs that a run placed, held for approval or disqualified,
-- summed over every attempt of the run. Older rows have none
alter table runs add column if not exists backlog_placed integer;
alter table runs add column if not exists backlog_held integer;
alter table runs add column if not exists backlog_disqualified integer;

-- the run's warnings as a JSON list of texts, over every attempt of the run: a
-- retried flow run does not read again the files an earlier attempt committed
alter table runs add column if not exists warnings text;

-- when the run's summary reached Slack; null when it posted nothing
alter table runs add column if not exists slack_posted_at timestamptz;

-- one row per held lead whose person a later file repeated with an unknown
-- do_not_email, do_not_call or consent_share value: the lead is not sent, placed
-- or approved until `leadshare transfer retry LEAD_ID` releases it or an opt-out
-- withdraws it
create table if not exists consent_holds (
    lead_id text not null,
    reason text not null,
    held_at timestamptz not null
);
