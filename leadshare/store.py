"""The lead store: one interface over DuckDB (default) or PostgreSQL (a URL change).

SQL lives in ``sql/<name>.sql`` with ``:name`` bound parameters, in a form that runs
unchanged on both databases (tests/test_store.py runs every statement on both).
Set-based stages hand whole DataFrames to
:meth:`StoreTransaction.insert_frame` and :meth:`StoreTransaction.execute_with_frame`,
which use DuckDB's zero-copy scan when the store is DuckDB and ``COPY`` (through
psycopg) on PostgreSQL.

DuckDB allows one writing process per file, and while it is open for writing no other
process can read it. The store therefore opens the file per unit of work
(``NullPool``) and keeps it closed between tasks; a CLI command that finds it open
fails with :class:`StoreError` naming the fix. Because the file is closed between
tasks, that lock alone would let two sharing runs interleave, so a run holds
:meth:`LeadStore.exclusive_run` from start to end. The hourly deployment also has
``concurrency_limit: 1`` in ``prefect.yaml``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from leadshare.errors import RunLockedError, RunLockLostError, StoreError

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

RUN_LOCK_KEY = 0x6C65_6164_7368_6172
"""PostgreSQL advisory lock key of the sharing run ("leadshar" in ASCII)."""
SCHEMA_LOCK_KEY = RUN_LOCK_KEY + 1
"""PostgreSQL advisory lock key of schema creation."""
RUN_GUARD_KEY = RUN_LOCK_KEY + 2
"""PostgreSQL advisory lock key that orders the transactions of two runs (see
sql/pg_run_guard.sql)."""

COPY_CHUNK_ROWS = 100_000
"""Rows per CSV chunk sent to COPY, which bounds the memory that the CSV text takes."""


@cache
def load_sql(name: str) -> str:
    """Return the text of ``sql/<name>.sql``."""
    path = SQL_DIR / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(
            f"SQL file {path} not found; the install is incomplete"
        ) from None


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


class StoreTransaction:
    """A unit of work; it commits on clean exit of :meth:`LeadStore.transaction`."""

    def __init__(
        self,
        connection: sa.Connection,
        is_duckdb: bool,
        column_types: dict[str, str] | None = None,
    ) -> None:
        self.connection = connection
        self.is_duckdb = is_duckdb
        self.column_types = column_types or {}
        """PostgreSQL type of each store column name, for typing ``_incoming``."""

    def execute(self, name: str, **params: Any) -> sa.CursorResult:
        return self.connection.execute(sa.text(load_sql(name)), params)

    def execute_script(self, name: str, **params: Any) -> None:
        """Run every statement of ``sql/<name>.sql`` in order, with the same params."""
        for statement in _statements(load_sql(name)):
            self.connection.execute(sa.text(statement), params)

    def rows(self, name: str, **params: Any) -> list[dict[str, Any]]:
        result = self.connection.execute(sa.text(load_sql(name)), params)
        return [dict(row._mapping) for row in result]

    def frame(self, name: str, **params: Any) -> pd.DataFrame:
        result = self.connection.execute(sa.text(load_sql(name)), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def execute_with_frame(
        self,
        name: str,
        frame: pd.DataFrame,
        columns: list[str] | None = None,
        **params: Any,
    ) -> None:
        """Run ``sql/<name>.sql``, which reads ``frame`` as the table ``_incoming``.

        One set-based statement instead of one bound statement per row: DuckDB's
        ``executemany`` costs about 0.3 ms a row. Does nothing when ``frame`` is
        empty. See :meth:`incoming` for ``columns``.
        """
        if frame.empty:
            return
        with self.incoming(frame, columns):
            self.execute(name, **params)

    @contextmanager
    def incoming(
        self,
        frame: pd.DataFrame,
        columns: list[str] | None = None,
        *,
        keep_order: bool = True,
    ) -> Iterator[None]:
        """Make ``frame`` the table ``_incoming`` for the statements run inside.

        DuckDB scans the frame in place and reads only the columns a statement
        uses. PostgreSQL gets the ``columns`` (all when None) in a temporary table
        filled by ``COPY`` and dropped on exit, so several statements over one
        large frame should share one ``incoming`` block.

        With ``keep_order=False``, DuckDB may write the rows inside in any order
        (``preserve_insertion_order``), for statements that only insert. That
        took the commit of a 1M-row file from 4.2 s to 2.8 s and added 20-50 MB
        to its peak RSS (1.75 GB, 2 cores). Every query that returns rows in an
        order sorts them itself.
        """
        if self.is_duckdb:
            raw = self.connection.connection.driver_connection
            raw.register("_incoming", frame)
            if not keep_order:
                raw.execute("set preserve_insertion_order = false")
            try:
                yield
            except BaseException:
                # A failed statement aborts the transaction, and DuckDB then
                # rejects these clean-up calls too. Their error would hide the
                # statement's own, so it is dropped. The rollback that follows
                # ends the transaction.
                with suppress(duckdb.Error):
                    _forget_incoming(raw, keep_order)
                raise
            _forget_incoming(raw, keep_order)
            return
        self._copy_to_scratch_table(frame[columns] if columns else frame)
        yield
        self.connection.exec_driver_sql("drop table _incoming")

    def insert_frame(self, table: str, frame: pd.DataFrame) -> int:
        """Append ``frame`` to ``table``; the frame's columns must be table columns."""
        if frame.empty:
            return 0
        if table not in TABLES:
            raise StoreError(
                f"table {table!r} is not a store table; expected one of {TABLES}"
            )
        columns = ", ".join(frame.columns)
        if self.is_duckdb:
            with self.incoming(frame):
                self.connection.exec_driver_sql(
                    f"insert into {table} ({columns}) select {columns} from _incoming"
                )
        else:
            self._copy_frame(table, frame, self.column_types)
        return len(frame)

    def _copy_to_scratch_table(self, frame: pd.DataFrame) -> None:
        """Create the temporary table ``_incoming`` with ``frame``'s rows in it.

        A column named like a store column gets that column's type, so that an
        all-NULL or text column still assigns to a typed column (PostgreSQL casts
        text to a number or timestamp only with an explicit cast). Other columns
        get a type from their values, and text when nothing more specific fits.
        """
        types = {
            column: self.column_types.get(column) or _postgres_type(frame[column])
            for column in frame.columns
        }
        definitions = ", ".join(
            f"{_quote(name)} {kind}" for name, kind in types.items()
        )
        self.connection.exec_driver_sql(
            f"create temporary table _incoming ({definitions})"
        )
        self._copy_frame("_incoming", frame, types)
        # Autovacuum never analyzes temporary tables. Without a row count the planner
        # may pick a nested loop over a hash join for a large frame.
        self.connection.exec_driver_sql("analyze _incoming")

    def _copy_frame(
        self, table: str, frame: pd.DataFrame, types: dict[str, str]
    ) -> None:
        """Send ``frame`` to PostgreSQL's ``COPY ... FROM STDIN`` as CSV chunks.

        pyarrow writes the CSV: it quotes every string, so an empty string stays
        an empty string, and it writes NULL as an unquoted empty field, which is
        NULL to COPY's CSV format. ``types`` maps columns to their PostgreSQL types.
        """
        columns = ", ".join(_quote(column) for column in frame.columns)
        ready = _arrow_ready(frame, types)
        table_data = pa.Table.from_pandas(ready, preserve_index=False)
        options = pa_csv.WriteOptions(include_header=False)
        raw = self.connection.connection.driver_connection
        with raw.cursor() as cursor:
            copy_sql = f"copy {_quote(table)} ({columns}) from stdin (format csv)"
            with cursor.copy(copy_sql) as copy:
                for batch in table_data.to_batches(max_chunksize=COPY_CHUNK_ROWS):
                    chunk = io.BytesIO()
                    pa_csv.write_csv(batch, chunk, options)
                    copy.write(chunk.getvalue())


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _arrow_ready(frame: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Return ``frame`` in the form COPY can read into columns of ``types``.

    pyarrow rejects an object column with both str and int values, for example, so
    such a column becomes text. A float column bound for an integer column (an int
    column with a NULL in pandas) becomes nullable int, because COPY rejects "3.0"
    as an integer. A fractional value in such a column raises TypeError.
    """
    converted = {}
    for column in frame.columns:
        series = frame[column]
        if types.get(column) in ("integer", "bigint") and series.dtype.kind == "f":
            converted[column] = series.astype("Int64")
        elif series.dtype == object and pd.api.types.infer_dtype(
            series, skipna=True
        ).startswith("mixed"):
            converted[column] = series.map(_text_or_none)
    return frame.assign(**converted) if converted else frame


def _text_or_none(value: Any) -> str | None:
    return None if pd.isna(value) else str(value)


def _postgres_type(series: pd.Series) -> str:
    """Return the PostgreSQL type for a frame column that is not a store column.

    NOTE: such a column with no values becomes text, so a statement that assigns
    it to a number or timestamp column fails.
    """
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind == "integer":
        return "bigint"
    if kind in ("floating", "mixed-integer-float", "decimal"):
        return "double precision"
    if kind == "boolean":
        return "boolean"
    if kind in ("datetime64", "datetime"):
        return "timestamptz"
    if kind == "date":
        return "date"
    return "text"


SUPPORTED_DIALECTS = ("duckdb", "postgresql")

TABLES = (
    "source_files",
    "runs",
    "leads",
    "row_outcomes",
    "suppression",
    "decision_groups",
    "decisions",
    "approvals",
    "transfers",
    "endpoint_state",
    "endpoint_backoff",
)


class LeadStore:
    """Open the store named by a SQLAlchemy URL; ``duckdb:///:memory:`` is the test twin.

    A PostgreSQL URL reads ``postgresql+psycopg://user@host:port/database``. Its
    sessions use the UTC time zone (unless the URL sets ``options``), as DuckDB
    sessions do on a machine in UTC, so ``date_trunc`` cuts hours the same way.
    """

    def __init__(self, url: str, wait_s: float = 0.0) -> None:
        try:
            parsed = sa.engine.make_url(url)
        except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
            # The value is not shown: a malformed URL can still contain a password.
            raise StoreError(
                "the store URL (LEADSHARE_DB_URL) is invalid; use duckdb:///PATH or "
                "postgresql+psycopg://USER@HOST:PORT/DATABASE"
            ) from None
        # Messages name the store by this form, which never contains the password.
        self.url = parsed.render_as_string(hide_password=True)
        self.dialect = parsed.get_backend_name()
        self.database = parsed.database
        if self.dialect not in SUPPORTED_DIALECTS:
            raise StoreError(
                f"store URL {self.url} is not supported: use duckdb:///PATH or "
                "postgresql+psycopg://USER@HOST:PORT/DATABASE"
            )
        self.is_duckdb = self.dialect == "duckdb"
        pool = sa.pool.StaticPool if url.endswith(":memory:") else NullPool
        connect_args = {}
        if self.dialect == "postgresql" and "options" not in parsed.query:
            connect_args["options"] = "-c TimeZone=UTC"
        self.engine = sa.create_engine(url, poolclass=pool, connect_args=connect_args)
        if self.is_duckdb:
            sa.event.listen(self.engine, "connect", _quiet_duckdb)
        self.column_types: dict[str, str] = {}
        # Seconds to wait for a DuckDB file that another process has open.
        self.wait_s = wait_s
        # PostgreSQL: the backend pid of the session that holds the run lock, while
        # this store runs a sharing run (see exclusive_run).
        self._run_lock_pid: int | None = None
        # ... and that session's connection, which delivery threads ping in turn.
        self._run_lock_connection: sa.Connection | None = None
        self._run_lock_mutex = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        try:
            with self._connect() as connection, connection.begin():
                if self._run_lock_pid is not None:
                    self._check_run_lock(connection)
                yield StoreTransaction(connection, self.is_duckdb, self.column_types)
        except sa.exc.OperationalError as exc:
            if _is_file_lock_error(exc):
                holder = _lock_holder(exc)
                raise StoreError(
                    f"store {self.url} is locked by another process{holder}, such as "
                    "a sharing run or another leadshare command, and it was still "
                    f"locked after {self.wait_s:g} s; retry when it has finished, or "
                    "set LEADSHARE_DB_URL to a PostgreSQL URL, where commands work "
                    "while a run is going"
                ) from exc
            if self._unwritable(exc):
                raise self._unwritable_error(exc) from exc
            raise StoreError(f"store {self.url} failed: {exc}") from exc
        except sa.exc.DBAPIError as exc:
            if self._unwritable(exc):
                raise self._unwritable_error(exc) from exc
            if "corrupt" not in str(exc).lower():
                raise
            raise StoreError(
                f"store {self.url} is damaged: {exc.orig}. Stop the scheduled runs, "
                "keep the damaged file for inspection and restore the store from a "
                "backup; the inbox and outbox files are not affected"
            ) from exc

    def _unwritable(self, error: sa.exc.DBAPIError) -> bool:
        """Tell whether DuckDB failed because the file system refused a write."""
        text = str(error.orig).lower()
        return self.is_duckdb and any(
            words in text
            for words in (
                "permission denied",
                "operation not permitted",
                "read-only file system",
            )
        )

    def _unwritable_error(self, error: sa.exc.DBAPIError) -> StoreError:
        folder = Path(self.database or ".").parent
        return StoreError(
            f"store {self.url} cannot be opened or written: {error.orig}. Make the "
            f"folder {folder} and the store files in it writable for this user "
            "(DuckDB writes a .wal file beside the store), then retry"
        )

    def _connect(self) -> sa.Connection:
        """Open a connection, waiting up to ``wait_s`` for a DuckDB file lock.

        DuckDB lets one process at a time open a file for writing. Other commands
        hold it for a moment (``status`` for one query), so a run waits for them
        instead of failing a task.
        """
        deadline = time.monotonic() + self.wait_s
        pause = 0.05
        warned = False
        while True:
            try:
                return self.engine.connect()
            except sa.exc.OperationalError as exc:
                if not _is_file_lock_error(exc) or time.monotonic() >= deadline:
                    raise
                if not warned:
                    warned = True
                    log.warning(
                        "store %s is open in another process%s; waiting up to %g s",
                        self.url,
                        _lock_holder(exc),
                        self.wait_s,
                    )
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, 0.5)

    @contextmanager
    def exclusive_run(self, run_id: str) -> Iterator[None]:
        """Hold the run lock for one sharing run, or raise :class:`RunLockedError`.

        DuckDB: an exclusive ``flock`` on ``<database file>.run-lock``, which the
        kernel releases when the process ends, however it ends. PostgreSQL: a
        session advisory lock on a connection kept open for the run, released when
        that session ends. An in-memory store has no other process to exclude.
        """
        if not self.is_duckdb:
            with self._advisory_lock():
                yield
            return
        if not self.database or self.database == ":memory:":
            yield
            return
        with _file_lock(Path(self.database + ".run-lock"), run_id, self.url):
            yield

    def run_in_progress(self) -> bool | None:
        """Tell whether a sharing run holds the run lock now, without taking it.

        Returns None for an in-memory store, where no other process can run.
        ``status`` uses it to show a run that is marked running but holds no
        lock as ended without finishing (killed, or its machine stopped).
        """
        if not self.is_duckdb:
            lock_rows = self.rows("pg_run_lock_held", key=RUN_LOCK_KEY, pid=None)
            return bool(lock_rows[0]["held"])
        if not self.database or self.database == ":memory:":
            return None
        return _file_locked(Path(self.database + ".run-lock"))

    def check_run_lock(self) -> None:
        """Raise RunLockLostError when this store's run no longer holds the run lock.

        Does nothing outside a run and on DuckDB, whose lock is the process's own.
        Delivery calls it before each send, between the store's transactions. The
        session that holds the lock responds to a ping while it lives, and its lock
        lives as long as it, so no new connection is opened (about 15 ms each).
        """
        lock_connection = self._run_lock_connection
        if lock_connection is None:
            return
        with self._run_lock_mutex:
            try:
                lock_connection.execute(sa.text("select 1"))
                lock_connection.commit()
            except sa.exc.DBAPIError as exc:
                # The session is gone, and the release at the run's end needs the
                # connection out of its failed transaction.
                with suppress(sa.exc.SQLAlchemyError):
                    lock_connection.rollback()
                raise self._lock_lost_error() from exc

    def _check_run_lock(self, connection: sa.Connection) -> None:
        """Order this transaction after a run that takes the lock over, then check."""
        guard_sql = sa.text(load_sql("pg_run_guard"))
        connection.execute(guard_sql, {"key": RUN_GUARD_KEY})
        lock_held = connection.execute(
            sa.text(load_sql("pg_run_lock_held")),
            {"key": RUN_LOCK_KEY, "pid": self._run_lock_pid},
        ).scalar()
        if not lock_held:
            raise self._lock_lost_error()

    def _lock_lost_error(self) -> RunLockLostError:
        return RunLockLostError(
            f"this sharing run lost its run lock on store {self.url}: the "
            "database ended the session that held it (a restart, "
            "idle_session_timeout, or a killed connection). The run stops so "
            "that no other run works on the same leads at once. Its committed "
            "work is kept, and the next run goes on from there"
        )

    @contextmanager
    def _advisory_lock(self) -> Iterator[None]:
        try:
            connection = self.engine.connect()
        except sa.exc.OperationalError as exc:
            raise StoreError(f"store {self.url} failed: {exc}") from exc
        try:
            locked = connection.execute(
                sa.text(load_sql("pg_try_run_lock")), {"key": RUN_LOCK_KEY}
            ).scalar()
            # The lock belongs to the session, so no transaction stays open.
            connection.commit()
            if not locked:
                holders = self.rows("running_runs")
                raise _locked_error(self.url, _describe_holders(holders))
            try:
                self._keep_session(connection)
                self._run_lock_connection = connection
                yield
            finally:
                with self._run_lock_mutex:
                    self._run_lock_pid = None
                    self._run_lock_connection = None
                _release_advisory_lock(connection, self.url)
        finally:
            connection.close()

    def _keep_session(self, connection: sa.Connection) -> None:
        """Keep the run lock's idle session open and start this run's checks.

        The session stays idle for the whole run, so a server's idle_session_timeout
        (PostgreSQL 14 and later) is turned off for it. A run that lost its lock
        to an earlier session's end may still be writing: this waits for its open
        transactions, and its next ones fail the lock check.
        """
        version = connection.execute(sa.text("show server_version_num")).scalar()
        if int(version) >= 140000:
            connection.execute(sa.text("set idle_session_timeout = 0"))
        connection.execute(
            sa.text(load_sql("pg_run_guard_exclusive")), {"key": RUN_GUARD_KEY}
        )
        pid = connection.execute(sa.text("select pg_backend_pid()")).scalar()
        connection.commit()
        self._run_lock_pid = int(pid)

    def init_schema(self) -> None:
        with self.transaction() as tx:
            if self.dialect == "postgresql":
                # Without it, two processes opening a new database at once both
                # create the tables, and one fails on a duplicate type name.
                tx.execute("pg_schema_lock", key=SCHEMA_LOCK_KEY)
            for statement in _statements(load_sql("schema")):
                tx.connection.execute(sa.text(statement))
            if self.dialect == "postgresql":
                for statement in _statements(load_sql("pg_unique_keys")):
                    tx.connection.execute(sa.text(statement))
                self.column_types = _store_column_types(tx.connection)

    def adopt_partner_ids(self, partner_ids: list[str]) -> None:
        """Give stored rows of a partner the spelling of its id in ``partner_ids``.

        Ids match in any case, so a partner whose id changed only in case in
        partners.yaml keeps its outbox, capacity used, endpoint state and approvals.
        """
        if not partner_ids:
            return
        ids = pd.DataFrame({"partner_id": partner_ids})
        with self.transaction() as tx, tx.incoming(ids):
            tx.execute_script("adopt_partner_ids")

    def rows(self, name: str, **params: Any) -> list[dict[str, Any]]:
        with self.transaction() as tx:
            return tx.rows(name, **params)

    def frame(self, name: str, **params: Any) -> pd.DataFrame:
        with self.transaction() as tx:
            return tx.frame(name, **params)


def _quiet_duckdb(dbapi_connection, _record) -> None:
    """Turn off the progress bar that DuckDB draws for queries over about 2 s.

    It is drawn on the terminal in the middle of the CLI's own output. The
    setting is per connection, so it is set on each new one.
    """
    dbapi_connection.execute("set enable_progress_bar = false")


def _forget_incoming(raw: duckdb.DuckDBPyConnection, keep_order: bool) -> None:
    if not keep_order:
        raw.execute("reset preserve_insertion_order")
    raw.unregister("_incoming")


def _store_column_types(connection: sa.Connection) -> dict[str, str]:
    """Return the PostgreSQL type of each column name used in the store tables.

    The schema gives a column name one type in every table it appears in.
    """
    result = connection.execute(
        sa.text(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = current_schema() and table_name = any(:tables)"
        ),
        {"tables": [*TABLES, "skipped_files"]},
    )
    return {name: data_type for name, data_type in result}


def _release_advisory_lock(connection: sa.Connection, url: str) -> None:
    try:
        connection.execute(
            sa.text(load_sql("pg_release_run_lock")), {"key": RUN_LOCK_KEY}
        )
        connection.commit()
    except sa.exc.SQLAlchemyError as exc:
        # A lost session has dropped its lock already, and raising here would hide
        # the run's own result or error.
        log.warning("run lock on store %s not released: %s", url, exc)


def _locked_error(url: str, holder: str) -> RunLockedError:
    return RunLockedError(
        f"another sharing run is using store {url} ({holder}), so this run changed "
        "nothing. This run's inbox files wait for its next attempt, unless that run "
        "reads the same inbox (the same LEADSHARE_HOME) and has not claimed its "
        "files yet: then it shares them. Run again when that one has finished "
        "(leadshare status shows it)"
    )


def _describe_holders(holders: list[dict[str, Any]]) -> str:
    if not holders:
        return "its run id is not recorded yet"
    return ", ".join(
        f"run {row['run_id']} started {row['started_at']:%Y-%m-%d %H:%M} UTC"
        for row in holders
    )


@contextmanager
def _file_lock(path: Path, run_id: str, url: str) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` and write the holder's run id into it."""
    try:
        handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+")
    except OSError as exc:
        raise StoreError(
            f"cannot open the run lock file {path}: {exc.strerror}; check that the "
            "folder of the store is writable"
        ) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "its run id is not recorded yet"
            raise _locked_error(url, holder) from None
        handle.seek(0)
        handle.truncate()
        started = dt.datetime.now(dt.UTC)
        handle.write(f"run {run_id}, process {os.getpid()}, since {started:%Y-%m-%d %H:%M} UTC\n")
        handle.flush()
        yield
        # Closing the file releases the lock.


def _file_locked(path: Path) -> bool:
    """Return True when a process holds an exclusive flock on ``path``."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        # Closing the file drops the shared lock at once.
        return False


def _is_file_lock_error(error: sa.exc.OperationalError) -> bool:
    """Return whether DuckDB failed to open its file because another process has it."""
    return "could not set lock on file" in str(error).lower()


def _lock_holder(error: sa.exc.OperationalError) -> str:
    """Return " (PID n)" for the process that DuckDB names as holding the file."""
    found = re.search(r"\(PID (\d+)\)", str(error))
    return f" (PID {found.group(1)})" if found else ""


def open_store(url: str, wait_s: float = 0.0) -> LeadStore:
    """Open the store at ``url`` and create its tables if they are missing.

    ``wait_s`` is how long each unit of work waits for a DuckDB file that another
    process has open.
    """
    store = LeadStore(url, wait_s)
    store.init_schema()
    return store
