"""Shared fixtures: the Prefect test harness, shared data, a fresh LEADSHARE_HOME,
and a PostgreSQL server with a fresh database per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_API_HOST", "127.0.0.1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


STARTED_SERVERS: list = []
"""The session's PostgreSQL servers, stopped on SIGTERM."""


def _stop_on_sigterm(signum: int, frame: object) -> None:
    from leadshare.interrupt import stop_children

    for server in STARTED_SERVERS:
        with contextlib.suppress(Exception):
            server.stop()
    stop_children()
    os._exit(128 + signum)


# SIGTERM (a CI timeout, `kill`) would end pytest without fixture teardown and
# leave the session's PostgreSQL and Prefect servers running. Raising
# KeyboardInterrupt instead does not work: Prefect turns it into a crashed flow run
# inside a test and the session goes on. So the servers and other child processes
# are stopped here and the process exits.
signal.signal(signal.SIGTERM, _stop_on_sigterm)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.fail(
            f"shared data not found at {SHARED}; tests need ../shared beside the checkout"
        )
    return SHARED


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty LEADSHARE_HOME with the example config."""
    root = tmp_path / "home"
    shutil.copytree(REPO / "config", root / "config")
    monkeypatch.setenv("LEADSHARE_HOME", str(root))
    monkeypatch.delenv("LEADSHARE_DB_URL", raising=False)
    monkeypatch.delenv("LEADSHARE_FAILPOINT", raising=False)
    # Tests copy a file in and run at once, so the settle time would leave it unread.
    monkeypatch.setenv("LEADSHARE_INBOX_SETTLE_S", "0")
    return root


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on 127.0.0.1 for the whole session, stopped at its end.

    Skips the requesting tests when this machine has no PostgreSQL binaries or,
    under root, no ``postgres`` user to run them as.
    """
    from pgserver import LocalPostgres, missing_requirement

    reason = missing_requirement()
    if reason:
        pytest.skip(f"no PostgreSQL server for these tests: {reason}")
    with LocalPostgres() as server:
        STARTED_SERVERS.append(server)
        yield server
        STARTED_SERVERS.remove(server)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The SQLAlchemy URL of a new, empty database, dropped after the test."""
    name = f"leadshare_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)
