"""The store on both databases: every SQL statement it runs, and its frame paths.

Each test runs once on an in-memory DuckDB and once on a fresh database of the
session's PostgreSQL server (see ``postgres_server`` in conftest.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from leadshare.pipeline import BATCH_COLUMNS
from leadshare.errors import RunLockedError, RunLockLostError
from leadshare.store import SQL_DIR, LeadStore, StoreError, load_sql, open_store

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)

SCRATCH_STATEMENTS = {"lead_ids", "parse_timestamps", "transfer_ids"}
"""Statements that run in leadshare.scratch's in-memory DuckDB, never in the store."""

POSTGRES_ONLY = {
    "pg_try_run_lock",
    "pg_release_run_lock",
    "pg_schema_lock",
    "pg_run_lock_held",
    "pg_run_guard",
    "pg_run_guard_exclusive",
    "pg_unique_keys",
}
"""Advisory lock statements; the DuckDB store locks a file instead."""

STORE_STATEMENTS = sorted(
    path.stem
    for path in SQL_DIR.glob("*.sql")
    if path.stem not in SCRATCH_STATEMENTS | POSTGRES_ONLY | {"schema"}
)

PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


@pytest.fixture(params=["duckdb", "postgres"])
def store(request) -> LeadStore:
    if request.param == "duckdb":
        return open_store("duckdb:///:memory:")
    return open_store(request.getfixturevalue("postgres_url"))


def _sql(store: LeadStore, sql: str, **params) -> list[tuple]:
    with store.transaction() as tx:
        return [tuple(row) for row in tx.connection.execute(sa.text(sql), params)]


def _batch_frame(**values) -> pd.DataFrame:
    """Return a one-row batch frame with every batch column, NULL unless given."""
    row = dict.fromkeys(BATCH_COLUMNS)
    row.update(values)
    return pd.DataFrame([row])


def _sample_params(sql: str) -> dict:
    params = {}
    for name in PARAMETER.findall(sql):
        if name.endswith("_at") or name in ("now", "since"):
            params[name] = NOW
        elif name in ("limit", "after", "rows_in", "files_in", "key", "pid"):
            params[name] = 5
        elif name in ("attempts", "failed_sends", "placed", "held", "disqualified"):
            params[name] = 5
        else:
            params[name] = f"{name}-1"
    return params


INCOMING_FRAMES = {
    "adopt_partner_ids": lambda: pd.DataFrame([{"partner_id": "P-1"}]),
    "approval_check_fields": lambda: pd.DataFrame([{"lead_id": "L-1"}]),
    "add_suppressions": lambda: pd.DataFrame(
        [
            {
                "key": "a@x.example",
                "kind": "email",
                "reason": "opted out",
                "source": "test",
                "suppressed_at": NOW,
            }
        ]
    ),
    "insert_batch_decisions": lambda: _batch_frame(
        lead_id="L-1", _row=1, outcome="shared", partner_id="P-1", group_id="g-1"
    ),
    "insert_batch_leads": lambda: _batch_frame(lead_id="L-1", _row=1, outcome="shared"),
    "insert_batch_outcomes": lambda: _batch_frame(
        lead_id="L-1", _row=1, outcome="shared", rule="matched"
    ),
    "mark_backlog_decided": lambda: pd.DataFrame(
        [{"lead_id": "L-1", "outcome": "shared", "rule": "matched", "reason": "r"}]
    ),
    "replace_held_leads": lambda: pd.DataFrame(
        [{"lead_id": "L-2", "replaces": "L-1", "reason": "replaced by L-2"}]
    ),
    "replaceable_leads": lambda: pd.DataFrame([{"lead_id": "L-1"}]),
    "reoffer_leads": lambda: pd.DataFrame([{"lead_id": "L-1", "reason": "r"}]),
    "hold_unclear_consent": lambda: pd.DataFrame([{"lead_id": "L-1", "reason": "r"}]),
    "mark_do_not_call": lambda: pd.DataFrame([{"lead_id": "L-1"}]),
    "withdraw_opted_out": lambda: pd.DataFrame([{"lead_id": "L-1"}]),
    "mark_transfers_sent": lambda: pd.DataFrame(
        [
            {
                "transfer_id": "T-1",
                "sent_at": NOW,
                "attempts": 3,
                "channel": "file_drop",
                "run_id": "run-1",
            }
        ]
    ),
    "set_delivery_batches": lambda: pd.DataFrame(
        [{"transfer_id": "T-1", "delivery_batch": "b-1"}]
    ),
    "set_transfer_payloads": lambda: pd.DataFrame(
        [{"transfer_id": "T-1", "payload": "{}"}]
    ),
}


@pytest.mark.parametrize("name", STORE_STATEMENTS)
def test_statement_runs(store, name):
    sql = load_sql(name)
    params = _sample_params(sql)
    with store.transaction() as tx:
        if name in INCOMING_FRAMES and ";" in sql.strip().rstrip(";"):
            with tx.incoming(INCOMING_FRAMES[name]()):
                tx.execute_script(name, **params)
        elif name in INCOMING_FRAMES:
            columns = list(BATCH_COLUMNS) if name.startswith("insert_batch") else None
            tx.execute_with_frame(name, INCOMING_FRAMES[name](), columns, **params)
        elif ";" in sql.strip().rstrip(";"):
            tx.execute_script(name, **params)
        else:
            tx.execute(name, **params)


def test_insert_frame_keeps_text_and_nulls(store):
    keys = ["comma,key", 'quote"key', "line\nbreak", "plain"]
    frame = pd.DataFrame(
        {
            "key": keys,
            "kind": "email",
            "reason": "opted out",
            "source": ["", None, "run r-1", "ünïcode"],
            "suppressed_at": NOW,
        }
    )
    with store.transaction() as tx:
        assert tx.insert_frame("suppression", frame) == 4

    rows = _sql(
        store, "select key, source, suppressed_at from suppression order by key"
    )
    assert rows == [
        ("comma,key", "", NOW),
        ("line\nbreak", "run r-1", NOW),
        ("plain", "ünïcode", NOW),
        ('quote"key', None, NOW),
    ]


def _pending_transfers(attempts) -> pd.DataFrame:
    """Two pending webhook transfers, T-1 for L-1 and T-2 for L-2."""
    return pd.DataFrame(
        {
            "transfer_id": ["T-1", "T-2"],
            "lead_id": ["L-1", "L-2"],
            "partner_id": "P-1",
            "channel": "webhook",
            "status": "pending",
            "attempts": attempts,
            "run_id": "r-1",
            "created_at": NOW,
        }
    )


def test_insert_frame_float_into_integer_column(store):
    frame = _pending_transfers(attempts=[0.0, 2.0])
    with store.transaction() as tx:
        tx.insert_frame("transfers", frame)

    rows = _sql(store, "select transfer_id, attempts from transfers order by 1")
    assert rows == [("T-1", 0), ("T-2", 2)]


def test_execute_with_frame_all_null_column(store):
    frame = pd.concat(
        [
            _batch_frame(lead_id="L-1", _row=1, outcome="shared"),
            _batch_frame(lead_id="L-2", _row=2, outcome="shared"),
        ],
        ignore_index=True,
    )
    with store.transaction() as tx:
        tx.execute_with_frame(
            "insert_batch_leads",
            frame,
            list(BATCH_COLUMNS),
            file_id="F-1",
            profile="generic",
            created_at=NOW,
        )

    rows = _sql(
        store, "select lead_id, source_row, score, created_at from leads order by 1"
    )
    assert rows == [("L-1", 1, None, NOW), ("L-2", 2, None, NOW)]


def test_mark_transfers_sent_only_listed(store):
    pending = _pending_transfers(attempts=1)
    sent_at = NOW + dt.timedelta(minutes=5)
    with store.transaction() as tx:
        tx.insert_frame("transfers", pending)
        # T-2 went out in a file drop although it was queued for the webhook.
        sent = {
            "transfer_id": ["T-2"],
            "sent_at": [sent_at],
            "attempts": [3],
            "channel": ["file_drop"],
            "run_id": ["run-2"],
        }
        tx.execute_with_frame("mark_transfers_sent", pd.DataFrame(sent))

    rows = _sql(
        store,
        "select transfer_id, status, attempts, channel, sent_at, sent_by_run "
        "from transfers order by 1",
    )
    assert rows[0] == ("T-1", "pending", 1, "webhook", None, None)
    assert rows[1] == ("T-2", "sent", 4, "file_drop", sent_at, "run-2")


def test_schema_fills_failed_sends_of_old_store(store):
    with store.transaction() as tx:
        tx.connection.exec_driver_sql("alter table transfers drop column failed_sends")
        tx.insert_frame("transfers", _pending_transfers(attempts=[0, 4]))

    store.init_schema()

    rows = _sql(store, "select transfer_id, failed_sends from transfers order by 1")
    assert rows == [("T-1", 0), ("T-2", 4)]


def test_endpoint_backoff_keeps_later_end(store):
    later = NOW + dt.timedelta(minutes=10)
    with store.transaction() as tx:
        tx.execute(
            "start_endpoint_backoff",
            partner_id="P-1",
            next_attempt_at=later,
            reason="HTTP 429",
        )
        tx.execute(
            "start_endpoint_backoff",
            partner_id="P-1",
            next_attempt_at=NOW + dt.timedelta(minutes=1),
            reason="3 failed sends in a row",
        )

    running = store.rows("endpoint_backoff", partner_id="P-1", now=NOW)
    ended = store.rows("endpoint_backoff", partner_id="P-1", now=later)
    assert len(running) == 1
    assert running[0]["next_attempt_at"] == later
    assert ended == []


def _held_leads(store: LeadStore) -> None:
    """Store five leads that found no partner; only L-WAIT may still be replaced.

    L-SENT has a transfer, L-ASK a pending approval, L-OPT a suppressed e-mail key
    and L-DONE was shared since.
    """
    names = ["L-WAIT", "L-SENT", "L-ASK", "L-OPT", "L-DONE"]
    rows = range(1, len(names) + 1)
    leads = pd.DataFrame(
        {
            "lead_id": names,
            "file_id": "F-1",
            "source_row": rows,
            "profile": "generic",
            "email_key": [f"{name.lower()}@x.example" for name in names],
            "country": "DE",
            "created_at": NOW,
        }
    )
    outcomes = pd.DataFrame(
        {
            "file_id": "F-1",
            "source_row": rows,
            "outcome": ["no_eligible_partner"] * 4 + ["shared"],
            "lead_id": names,
            "run_id": "r-1",
        }
    )
    transfers = _pending_transfers(attempts=0).iloc[:1].assign(lead_id="L-SENT")
    approvals = pd.DataFrame(
        [{"lead_id": "L-ASK", "status": "pending", "created_at": NOW}]
    )
    suppression = pd.DataFrame(
        [
            {
                "key": "l-opt@x.example",
                "kind": "email",
                "reason": "opted out",
                "suppressed_at": NOW,
            }
        ]
    )
    with store.transaction() as tx:
        tx.insert_frame("leads", leads)
        tx.insert_frame("row_outcomes", outcomes)
        tx.insert_frame("transfers", transfers)
        tx.insert_frame("approvals", approvals)
        tx.insert_frame("suppression", suppression)


def test_only_waiting_leads_replaceable(store):
    _held_leads(store)
    names = ["L-WAIT", "L-SENT", "L-ASK", "L-OPT", "L-DONE"]
    targets = pd.DataFrame({"lead_id": names})
    with store.transaction() as tx, tx.incoming(targets):
        stored = tx.frame("replaceable_leads")

    assert stored["lead_id"].tolist() == ["L-WAIT"]
    assert stored["country"].tolist() == ["DE"]


def test_replaced_lead_leaves_backlog_and_history(store):
    _held_leads(store)
    replaced = pd.DataFrame(
        [{"lead_id": "L-NEW", "replaces": "L-WAIT", "reason": "replaced by L-NEW"}]
    )
    with store.transaction() as tx:
        tx.execute_with_frame("replace_held_leads", replaced)

    rows = _sql(
        store,
        "select outcome, rule, reason, lead_id from row_outcomes where source_row = 1",
    )
    assert rows == [("duplicate", "replaced_by_reimport", "replaced by L-NEW", "L-NEW")]
    backlog = store.rows("backlog_leads", since=NOW - dt.timedelta(days=1))
    assert "L-WAIT" not in {row["lead_id"] for row in backlog}
    history = store.rows("history_keys")
    assert "L-WAIT" not in {row["lead_id"] for row in history}
    assert len(history) == 4
    explained = store.rows("explain_lead", lead_id="L-WAIT")
    assert [(row["row_lead_id"], row["linked_lead_id"]) for row in explained] == [
        ("L-WAIT", "L-NEW")
    ]


def test_withdraw_by_external_key(store):
    # L-1 is known to the suppression list only by its source's id.
    leads = pd.DataFrame(
        {
            "lead_id": ["L-1", "L-2"],
            "file_id": "F-1",
            "source_row": [1, 2],
            "profile": "generic",
            "external_id": [" A-7 ", "A-8"],
            "country": "DE",
            "created_at": NOW,
        }
    )
    suppression = pd.DataFrame(
        [
            {
                "key": "ext:generic:A-7",
                "kind": "external_id",
                "reason": "opted out",
                "suppressed_at": NOW,
            }
        ]
    )
    with store.transaction() as tx:
        tx.insert_frame("leads", leads)
        tx.insert_frame("transfers", _pending_transfers(attempts=0))
        tx.insert_frame("suppression", suppression)
        with tx.incoming(pd.DataFrame({"lead_id": pd.Series([], dtype=object)})):
            tx.execute_script("withdraw_opted_out", now=NOW)

    rows = _sql(store, "select lead_id, status from transfers order by 1")
    assert rows == [("L-1", "withdrawn"), ("L-2", "pending")]


def test_unordered_insert_setting_reset():
    # The in-memory store keeps one connection, so a leaked setting would stay.
    store = open_store("duckdb:///:memory:")
    frame = _batch_frame(lead_id="L-1", _row=1, outcome="shared", rule="matched")
    setting = "select current_setting('preserve_insertion_order')"

    with store.transaction() as tx:
        with tx.incoming(frame, keep_order=False):
            inside = tx.connection.exec_driver_sql(setting).scalar()
            tx.execute("insert_batch_outcomes", file_id="f-1", run_id="r-1")
        after = tx.connection.exec_driver_sql(setting).scalar()

    assert inside is False
    assert after is True
    assert _sql(store, "select lead_id from row_outcomes") == [("L-1",)]


def test_frame_scratch_table_dropped(store):
    frame = pd.DataFrame({"transfer_id": ["T-1"], "payload": ["{}"]})
    with store.transaction() as tx:
        tx.execute_with_frame("set_transfer_payloads", frame)
        tx.execute_with_frame("set_transfer_payloads", frame)
        tables = [
            row[0]
            for row in tx.connection.execute(
                sa.text("select table_name from information_schema.tables")
            )
        ]
    assert "_incoming" not in tables


def test_postgres_column_types_one_per_name(postgres_url):
    store = open_store(postgres_url)
    conflicts = _sql(
        store,
        "select column_name from information_schema.columns "
        "where table_schema = current_schema() group by column_name "
        "having count(distinct data_type) > 1",
    )
    assert conflicts == []
    assert store.column_types["score"] == "double precision"
    assert store.column_types["sent_at"] == "timestamp with time zone"


def test_postgres_keys_unique(postgres_url):
    store = open_store(postgres_url)
    insert = (
        "insert into row_outcomes (file_id, source_row, outcome, run_id) "
        "values ('f-1', 2, 'shared', 'r-1')"
    )
    with store.transaction() as tx:
        tx.connection.execute(sa.text(insert))

    with pytest.raises(sa.exc.IntegrityError), store.transaction() as tx:
        tx.connection.execute(sa.text(insert))


def test_postgres_old_keys_not_doubled(postgres_url):
    # A store made when leads, row_outcomes and decisions had primary keys.
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        for statement in (
            "create table leads (lead_id text primary key)",
            "create table row_outcomes (file_id text, source_row integer, "
            "primary key (file_id, source_row))",
            "create table decisions (lead_id text, run_id text, "
            "primary key (lead_id, run_id))",
        ):
            connection.execute(sa.text(statement))
    engine.dispose()

    store = open_store(postgres_url)

    indexes = _sql(
        store,
        "select tablename, count(*) from pg_indexes where schemaname = "
        "current_schema() and tablename in ('leads', 'row_outcomes', 'decisions') "
        "group by tablename order by tablename",
    )
    assert indexes == [("decisions", 1), ("leads", 1), ("row_outcomes", 1)]


def test_postgres_session_time_zone_utc(postgres_url):
    store = open_store(postgres_url)
    assert _sql(store, "select current_setting('TimeZone')") == [("UTC",)]


def test_store_url_hides_password():
    store = LeadStore("postgresql+psycopg://lead:s3cret@127.0.0.1:5999/leads")
    assert "s3cret" not in store.url
    assert store.url.startswith("postgresql+psycopg://lead:***@127.0.0.1:5999/")


def test_unsupported_store_url_rejected():
    with pytest.raises(StoreError, match="not supported"):
        LeadStore("sqlite:///leads.db")


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request, tmp_path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'leads.duckdb'}"
    return request.getfixturevalue("postgres_url")


def test_run_lock_lets_one_run_at_a_time(store_url):
    first, second = open_store(store_url), open_store(store_url)
    with first.exclusive_run("run-A"):
        with first.transaction() as tx:
            tx.execute("start_run", run_id="run-A", flow_run_id=None, started_at=NOW)
        with pytest.raises(RunLockedError, match="run run-A") as caught:
            with second.exclusive_run("run-B"):
                pytest.fail("a second run got the lock")
        assert "changed nothing" in str(caught.value)
    # Released on exit, the lock goes to the next run.
    with second.exclusive_run("run-B"):
        pass


def test_run_in_progress_tells_who_holds_the_lock(store_url):
    first, second = open_store(store_url), open_store(store_url)
    assert second.run_in_progress() is False
    with first.exclusive_run("run-A"):
        assert second.run_in_progress() is True
        # Looking does not take the lock: the holder keeps it.
        with pytest.raises(RunLockedError):
            with second.exclusive_run("run-B"):
                pytest.fail("a second run got the lock")
    assert second.run_in_progress() is False


def test_run_lock_not_needed_in_memory():
    store = open_store("duckdb:///:memory:")
    with store.exclusive_run("run-A"), store.exclusive_run("run-B"):
        assert store.run_in_progress() is None


def test_postgres_run_lock_statements(postgres_url):
    store = open_store(postgres_url)
    with store.transaction() as tx:
        assert tx.rows("pg_try_run_lock", key=5) == [{"locked": True}]
        assert tx.rows("pg_release_run_lock", key=5) == [{"released": True}]


def test_postgres_run_lock_survives_lost_session(postgres_url):
    store = open_store(postgres_url)
    with store.exclusive_run("run-A"):
        killed = _sql(
            store,
            "select pg_terminate_backend(pid) from pg_locks where locktype = "
            "'advisory' and objsubid = 1 and pid <> pg_backend_pid() and database = "
            "(select oid from pg_database where datname = current_database())",
        )
        assert killed == [(True,)]
    # The ended session took its lock with it, and the next run gets it.
    with open_store(postgres_url).exclusive_run("run-B"):
        pass


def test_postgres_run_stops_after_losing_its_lock(postgres_url):
    store = open_store(postgres_url)
    other = open_store(postgres_url)
    with store.exclusive_run("run-A"):
        _sql(
            other,
            "select pg_terminate_backend(pid) from pg_locks where locktype = "
            "'advisory' and objsubid = 1 and pid <> pg_backend_pid() and database = "
            "(select oid from pg_database where datname = current_database())",
        )
        with other.exclusive_run("run-B"):
            with pytest.raises(RunLockLostError, match="lost its run lock"):
                _sql(store, "select 1")
            with pytest.raises(RunLockLostError):
                store.check_run_lock()
            assert _sql(other, "select 1") == [(1,)]
            other.check_run_lock()
    # Outside a run, the store is checked no more.
    assert _sql(store, "select 1") == [(1,)]


def test_postgres_run_lock_outlasts_idle_timeout(postgres_url):
    store = open_store(postgres_url)
    database = sa.engine.make_url(postgres_url).database
    with store.transaction() as tx:
        tx.connection.exec_driver_sql(
            f"alter database {database} set idle_session_timeout = '1s'"
        )
    fresh = open_store(postgres_url)

    with fresh.exclusive_run("run-A"):
        time.sleep(2.5)
        fresh.check_run_lock()
        assert _sql(fresh, "select 1") == [(1,)]


@pytest.mark.parametrize(
    "url", ["nonsense", "postgresql+psycopg://bob:s3cretpw@127.0.0.1:5x32/db"]
)
def test_malformed_store_url_rejected(url):
    with pytest.raises(StoreError, match=r"store URL \(LEADSHARE_DB_URL\) is invalid") as caught:
        LeadStore(url)
    assert "s3cretpw" not in str(caught.value)
    assert "nonsense" not in str(caught.value)



def test_postgres_schema_concurrent_create(postgres_server):
    # Each process of a deployment (flow runs, CLI commands) opens the store and
    # creates the schema if it is missing. On a new database they can all do it at
    # once, and "create table if not exists" alone then fails in some of them.
    import multiprocessing
    import uuid

    context = multiprocessing.get_context("spawn")
    for _ in range(2):
        name = f"leadshare_{uuid.uuid4().hex[:12]}"
        url = postgres_server.create_database(name)
        barrier = context.Barrier(6)
        failures = context.Queue()
        processes = [
            context.Process(target=_open_at_once, args=(url, barrier, failures))
            for _ in range(6)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [process.exitcode for process in processes] == [0] * 6
        reported = [failures.get() for _ in processes]
        assert reported == [None] * 6
        assert open_store(url).rows("recent_runs", limit=5) == []
        postgres_server.drop_database(name)


def _open_at_once(url: str, barrier, failures) -> None:
    barrier.wait(30)
    try:
        open_store(url)
    except Exception as exc:  # reported to the test, which names the failure
        failures.put(f"{type(exc).__name__}: {exc}")
    else:
        failures.put(None)


@contextlib.contextmanager
def duckdb_file_held(path: Path, seconds: float) -> Iterator[int]:
    """Keep ``path`` open in another process for up to ``seconds``; yield its PID."""
    script = (
        "import sys, time, duckdb\n"
        "connection = duckdb.connect(sys.argv[1])\n"
        "print('open', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_store_waits_for_file_held(tmp_path):
    path = tmp_path / "leadshare.duckdb"
    store = open_store(f"duckdb:///{path}", wait_s=30)

    with duckdb_file_held(path, 1.5):
        started = time.monotonic()
        runs = store.rows("recent_runs", limit=5)
        waited = time.monotonic() - started

    assert runs == []
    assert waited > 0.5


def test_store_held_too_long_names_holder(tmp_path):
    path = tmp_path / "leadshare.duckdb"
    store = open_store(f"duckdb:///{path}", wait_s=0.3)

    with duckdb_file_held(path, 30) as pid:
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            store.rows("recent_runs", limit=5)
        waited = time.monotonic() - started

    message = str(caught.value)
    assert f"is locked by another process (PID {pid})" in message
    assert "still locked after 0.3 s" in message
    assert 0.3 <= waited < 5


def test_damaged_duckdb_file_named(tmp_path):
    path = tmp_path / "leadshare.duckdb"
    open_store(f"duckdb:///{path}")
    with path.open("r+b") as handle:
        handle.seek(4096)
        handle.write(bytes(range(256)) * 16)

    with pytest.raises(StoreError, match="is damaged") as caught:
        open_store(f"duckdb:///{path}")
    assert "restore the store from a backup" in str(caught.value)


@pytest.mark.parametrize("where", ["file", "memory"])
def test_failed_frame_statement_keeps_its_error(where, tmp_path):
    path = tmp_path / "store.duckdb" if where == "file" else ":memory:"
    store = open_store(f"duckdb:///{path}")
    bad = pd.DataFrame(
        [
            {
                "transfer_id": "msg_0",
                "sent_at": dt.datetime.now(dt.UTC),
                "attempts": "abc",
                "channel": "webhook",
                "run_id": "r0",
            }
        ]
    )
    with store.transaction() as tx:
        tx.execute(
            "add_transfer",
            transfer_id="msg_0",
            lead_id="L-0",
            partner_id="P-X",
            channel="webhook",
            created_at=dt.datetime.now(dt.UTC),
            run_id="r0",
        )

    for _ in range(2):
        with pytest.raises(sa.exc.DBAPIError) as caught:
            with store.transaction() as tx:
                tx.execute_with_frame("mark_transfers_sent", bad)
        assert "Binder Error" in str(caught.value)
        assert "transaction is aborted" not in str(caught.value)
    assert store.rows("recent_runs", limit=1) == []


def test_recent_runs_last_finished_first(store):
    hour = dt.timedelta(hours=1)
    with store.transaction() as tx:
        for run_id, started, finished in (
            ("run-retried", NOW, NOW + 3 * hour),
            ("run-later", NOW + hour, NOW + 2 * hour),
            ("run-going", NOW + 4 * hour, None),
        ):
            tx.connection.execute(
                sa.text(
                    "insert into runs (run_id, started_at, finished_at, status) "
                    "values (:run_id, :started, :finished, 'completed')"
                ),
                {"run_id": run_id, "started": started, "finished": finished},
            )

    runs = store.rows("recent_runs", limit=5)

    assert [run["run_id"] for run in runs] == ["run-going", "run-retried", "run-later"]


def test_duckdb_draws_no_progress_bar(tmp_path):
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")

    assert _sql(store, "select current_setting('enable_progress_bar')") == [(False,)]


def test_unwritable_store_folder_named(tmp_path):
    from test_filedrop import read_only_folder

    folder = tmp_path / "home"
    folder.mkdir()
    store = open_store(f"duckdb:///{folder / 'store.duckdb'}")

    with read_only_folder(folder), pytest.raises(StoreError) as caught:
        with store.transaction() as tx:
            tx.connection.exec_driver_sql(
                "insert into suppression values ('k', 'email', 'r', 's', now())"
            )

    message = str(caught.value)
    assert "cannot be opened or written" in message
    assert f"Make the folder {folder} and the store files in it writable" in message
