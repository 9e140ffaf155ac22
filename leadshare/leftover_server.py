"""Stop the temporary Prefect server that a killed CLI run left running.

Without ``PREFECT_API_URL``, ``leadshare share`` and ``leadshare run`` run the flow
in-process and Prefect starts a temporary API server (uvicorn) as a child process.
A run killed with SIGKILL, or stopped by a fail point's ``os._exit``, cannot stop
that child, so it would run on.

Before the flow starts, the CLI therefore writes a record under
``$LEADSHARE_HOME/prefect-servers/`` with its own PID and a random owner token, and
puts the token in its environment as ``LEADSHARE_SERVER_OWNER``. Prefect 3.x starts
the server with a copy of that environment, so the server carries the token from
its first instruction on. Every CLI command first reads the records of its home:
for each one whose CLI process is gone, it stops the Prefect servers that carry the
record's token. Servers of a CLI that still runs, or of another home, carry another
token and are never touched.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from leadshare.errors import ConfigError

log = logging.getLogger(__name__)

SERVER_COMMAND_MARK = "prefect.server.api.server:create_app"
"""Part of the command line of Prefect's temporary server (Prefect 3.x)."""

OWNER_ENV = "LEADSHARE_SERVER_OWNER"
"""The environment variable that carries a CLI run's owner token to its server."""

RECORD_DIR = "prefect-servers"
STOP_TIMEOUT_S = 10.0


def _is_server(process: psutil.Process) -> bool:
    try:
        return any(SERVER_COMMAND_MARK in part for part in process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _owner_token(process: psutil.Process) -> str | None:
    try:
        return process.environ().get(OWNER_ENV)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _same_process(pid: int, created: float) -> psutil.Process | None:
    """Return the process ``pid`` if it is the one created at ``created``."""
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - created) < 0.01:
            return process
    except psutil.NoSuchProcess:
        pass
    return None


def _write_record(record: Path, entry: dict) -> None:
    """Write ``entry`` so that a reader sees either no record or all of it."""
    record.parent.mkdir(parents=True, exist_ok=True)
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps(entry), encoding="utf-8")
    os.replace(partial, record)


@contextmanager
def record_server(home: Path) -> Iterator[None]:
    """Record this process as the owner of any Prefect server it starts inside.

    The record is written, and the owner token set in ``os.environ``, before the
    body runs, so no server can start unrecorded. The record is deleted when the
    process exits normally, after Prefect's own exit handler has stopped the server.
    """
    token = uuid.uuid4().hex
    record = home / RECORD_DIR / f"{os.getpid()}-{token}.json"
    entry = {
        "cli_pid": os.getpid(),
        "cli_created": psutil.Process().create_time(),
        "owner_token": token,
    }
    try:
        _write_record(record, entry)
    except OSError as exc:
        raise ConfigError(
            f"{record.parent}: cannot write the record of this command's temporary "
            f"Prefect server ({exc.strerror}). Make LEADSHARE_HOME {home} writable "
            "for this user (check its owner, mode and immutable flag: lsattr, "
            "chattr -i) and retry"
        ) from None
    # Exit handlers run last-registered first. Prefect registers its server's stop
    # when it starts the server, inside the body, so this deletion runs after it.
    atexit.register(record.unlink, missing_ok=True)

    previous = os.environ.get(OWNER_ENV)
    os.environ[OWNER_ENV] = token
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(OWNER_ENV, None)
        else:
            os.environ[OWNER_ENV] = previous


def _servers_of(token: str, started_after: float) -> list[psutil.Process]:
    """Find the running Prefect servers whose environment carries ``token``."""
    # NOTE: a server forked but not yet exec'd still has the CLI's command line, so
    # a command that runs in that window of microseconds misses it for good.
    found = []
    for process in psutil.process_iter():
        try:
            # A process older than the CLI run cannot be its server.
            if process.create_time() < started_after - 0.01:
                continue
        except psutil.NoSuchProcess:
            continue
        if _is_server(process) and _owner_token(process) == token:
            found.append(process)
    return found


def _servers_of_record(entry: dict) -> list[psutil.Process]:
    """Find the running servers that a record of an ended CLI run names.

    Records written by leadshare versions before the owner token name the server by
    PID and creation time instead.
    """
    if "owner_token" in entry:
        return _servers_of(str(entry["owner_token"]), float(entry["cli_created"]))
    server = _same_process(entry["server_pid"], entry["server_created"])
    if server is not None and _is_server(server):
        return [server]
    return []


def stop_leftover_servers(home: Path) -> list[int]:
    """Stop the recorded servers whose CLI process has ended, and return their PIDs."""
    folder = home / RECORD_DIR
    if not folder.is_dir():
        return []
    stopped = []
    for record in sorted(folder.glob("*.json")):
        try:
            entry = json.loads(record.read_text(encoding="utf-8"))
            cli = _same_process(entry["cli_pid"], entry["cli_created"])
            if cli is not None:
                continue  # that CLI run is still going
            servers = _servers_of_record(entry)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("Ignored unreadable server record %s: %s", record, exc)
            record.unlink(missing_ok=True)
            continue

        for server in servers:
            _stop(server)
            stopped.append(server.pid)
            log.warning(
                "Stopped the temporary Prefect server (PID %d) that a killed run "
                "left running",
                server.pid,
            )
        record.unlink(missing_ok=True)
    return stopped


def _stop(process: psutil.Process) -> None:
    try:
        process.terminate()
        process.wait(timeout=STOP_TIMEOUT_S)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
    except psutil.NoSuchProcess:
        pass
