"""A throwaway PostgreSQL server for tests, on 127.0.0.1 with a free port.

``LocalPostgres`` runs ``initdb`` and ``postgres`` from the machine's PostgreSQL
install in a new temporary folder. The server listens on 127.0.0.1 only, keeps its
unix socket inside that folder and trusts local connections, so it needs no
password. When the tests run as root, both programs run as the ``postgres`` user,
because initdb rejects root. ``stop`` shuts the server down by its PID and removes
the folder.

    with LocalPostgres() as server:
        url = server.create_database("test_one")
        ...  # postgresql+psycopg://postgres@127.0.0.1:PORT/test_one

:func:`missing_requirement` returns why a server cannot be started here (no
binaries, no ``postgres`` user), so callers can skip instead of fail.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/bin"])
SERVER_USER = "postgres"
"""The account that owns the data folder and runs the server when we are root."""

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def _binary(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def missing_requirement() -> str | None:
    """Return why no PostgreSQL server can be started here, or None if one can."""
    for name in ("initdb", "postgres"):
        if _binary(name) is None:
            return f"PostgreSQL binary {name!r} not found on PATH or in /usr/local/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return (
                f"running as root and no {SERVER_USER!r} user exists; initdb "
                "rejects root, so create that user or run the tests as another user"
            )
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalPostgres:
    """One PostgreSQL server in a temporary folder; use it as a context manager."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._as_user: dict = {}

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def start(self) -> None:
        """Create a data folder, start the server and wait until it accepts logins."""
        reason = missing_requirement()
        if reason:
            raise RuntimeError(f"cannot start PostgreSQL: {reason}")
        self.folder = Path(tempfile.mkdtemp(prefix="leadshare-pg-"))
        try:
            self._start_in_folder()
        except BaseException:
            self.stop()
            raise

    def _start_in_folder(self) -> None:
        socket_dir = self.folder / "socket"
        socket_dir.mkdir()
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            for path in (self.folder, socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
            # subprocess switches user in the child before exec, so the PID we get
            # is the server's own PID (no runuser or su process in between).
            self._as_user = {
                "user": account.pw_uid,
                "group": account.pw_gid,
                "extra_groups": [],
                "env": {**os.environ, "HOME": str(self.folder), "USER": SERVER_USER},
            }
        data = self.folder / "data"
        subprocess.run(
            [
                _binary("initdb"),
                "--pgdata",
                str(data),
                "--username",
                SERVER_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=self.folder,
            check=True,
            capture_output=True,
            **self._as_user,
        )
        self.port = _free_port()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    _binary("postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={socket_dir}",
                    # A test server has no data that needs crash-safe writes.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_user,
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"PostgreSQL exited with status {self.process.returncode} while "
                    f"starting; its log:\n{self.log_path.read_text(errors='replace')}"
                )
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL on 127.0.0.1:{self.port} did not accept logins "
                        f"within {START_TIMEOUT_S:.0f} s; its log:\n"
                        f"{self.log_path.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.1)

    def dsn(self, database: str) -> str:
        """Return a libpq connection string for ``database`` on this server."""
        return f"host=127.0.0.1 port={self.port} user={SERVER_USER} dbname={database}"

    def url(self, database: str) -> str:
        """Return the SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its SQLAlchemy URL."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as con:
            con.execute(f'create database "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, closing any session still connected to it."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as con:
            con.execute(f'drop database if exists "{name}" with (force)')

    def stop(self) -> None:
        """Stop the server by its PID (fast shutdown) and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            # SIGINT is PostgreSQL's fast shutdown: it ends sessions and exits cleanly.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                # SIGQUIT is the immediate shutdown, which also ends child processes.
                self.process.send_signal(signal.SIGQUIT)
                self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
