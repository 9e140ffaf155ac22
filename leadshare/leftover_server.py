"""Stop the temporary Prefect server that a killed CLI run left running.

Without ``PREFECT_API_URL``, ``leadshare share`` and ``leadshare run`` run the flow
in-process and Prefect starts a temporary API server (uvicorn) as a child process.
A run killed with SIGKILL, or stopped by a fail point's ``os._exit``, cannot stop
that child, so it would run on. The CLI therefore records the server's PID under
``$LEADSHARE_HOME/prefect-servers/`` while it runs, and every CLI command first stops
the recorded servers whose CLI process is gone.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

SERVER_COMMAND_MARK = "prefect.server.api.server:create_app"
"""Part of the command line of Prefect's temporary server (Prefect 3.x)."""

RECORD_DIR = "prefect-servers"
POLL_S = 0.25
FIND_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0


def _is_server(process: psutil.Process) -> bool:
    try:
        return any(SERVER_COMMAND_MARK in part for part in process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _find_server_child() -> psutil.Process | None:
    for child in psutil.Process().children(recursive=True):
        if _is_server(child):
            return child
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


@contextmanager
def record_server(home: Path) -> Iterator[None]:
    """Record the temporary server this process starts, for as long as it runs.

    A thread looks for the server among this process's children and writes its
    PID next to this process's PID. The record is deleted on a normal exit, after
    which Prefect stops the server itself.
    """
    folder = home / RECORD_DIR
    record = folder / f"{os.getpid()}.json"
    done = threading.Event()

    def watch() -> None:
        waited = 0.0
        while not done.is_set() and waited < FIND_TIMEOUT_S:
            server = _find_server_child()
            if server is not None:
                folder.mkdir(parents=True, exist_ok=True)
                record.write_text(
                    json.dumps(
                        {
                            "cli_pid": os.getpid(),
                            "cli_created": psutil.Process().create_time(),
                            "server_pid": server.pid,
                            "server_created": server.create_time(),
                        }
                    ),
                    encoding="utf-8",
                )
                return
            done.wait(POLL_S)
            waited += POLL_S

    watcher = threading.Thread(target=watch, name="record-prefect-server", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        record.unlink(missing_ok=True)


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
            server = _same_process(entry["server_pid"], entry["server_created"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("Ignored unreadable server record %s: %s", record, exc)
            record.unlink(missing_ok=True)
            continue
        if cli is not None:
            continue  # that CLI run is still going
        if server is not None and _is_server(server):
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
