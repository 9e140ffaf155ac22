"""A killed CLI run leaves Prefect's temporary server; the next command stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from leadshare import failpoints
from leadshare.generate import write_leads
from leadshare.leftover_server import (
    OWNER_ENV,
    RECORD_DIR,
    SERVER_COMMAND_MARK,
    record_server,
    stop_leftover_servers,
)

REPO = Path(__file__).resolve().parents[1]


def _cli(env: dict, output: Path, *args: str) -> tuple[int, str]:
    """Run the CLI and return its exit code and its output.

    The output goes to a file: a leftover server inherits the CLI's stdout and
    stderr, so reading pipes to their end would wait for that server.
    """
    with output.open("w") as handle:
        code = subprocess.run(
            [sys.executable, "-m", "leadshare.cli", *args],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=300,
        ).returncode
    return code, output.read_text()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _servers_with_token(token: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if SERVER_COMMAND_MARK not in " ".join(process.cmdline()):
                continue
            if process.environ().get(OWNER_ENV) == token:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def test_killed_run_server_stopped(home, tmp_path):
    env = dict(
        os.environ,
        LEADSHARE_HOME=str(home),
        PREFECT_HOME=str(tmp_path / "prefect"),
        LEADSHARE_FAILPOINT="after_parse",
    )
    # No API URL: the CLI runs the flow on Prefect's temporary server.
    env.pop("PREFECT_API_URL", None)
    leads = write_leads(tmp_path / "leads.csv", 100, seed=3)

    code, output = _cli(env, tmp_path / "share.log", "share", "--profile", "generic", str(leads))
    assert code == failpoints.EXIT_STATUS, output[-2000:]
    records = list((home / RECORD_DIR).glob("*.json"))
    assert len(records) == 1
    token = json.loads(records[0].read_text())["owner_token"]
    servers = _servers_with_token(token)
    assert len(servers) == 1
    server_pid = servers[0].pid
    try:
        assert not _gone(server_pid)

        del env["LEADSHARE_FAILPOINT"]
        code, output = _cli(env, tmp_path / "status.log", "status")
        assert code == 0, output[-2000:]
        assert f"PID {server_pid}" in output
        assert _gone(server_pid)
        assert not list((home / RECORD_DIR).glob("*.json"))
    finally:
        if not _gone(server_pid):
            psutil.Process(server_pid).kill()


def _children_with_mark(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any(SERVER_COMMAND_MARK in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def test_kill_as_server_starts_stopped(home, tmp_path):
    """A SIGKILL right after the server process appears must not leave it running."""
    env = dict(
        os.environ, LEADSHARE_HOME=str(home), PREFECT_HOME=str(tmp_path / "prefect")
    )
    env.pop("PREFECT_API_URL", None)
    leads = write_leads(tmp_path / "leads.csv", 100, seed=5)
    command = ["share", "--profile", "generic", str(leads)]
    servers: list[psutil.Process] = []
    with (tmp_path / "share.log").open("w") as output:
        cli = subprocess.Popen(
            [sys.executable, "-m", "leadshare.cli", *command],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not servers and cli.poll() is None and time.monotonic() < deadline:
            servers = _children_with_mark(cli.pid)
            time.sleep(0.01)
        cli.send_signal(signal.SIGKILL)
        cli.wait(timeout=10)
        assert servers, (tmp_path / "share.log").read_text()[-2000:]
        assert not _gone(servers[0].pid)

        code, output = _cli(env, tmp_path / "status.log", "status")
        assert code == 0, output[-2000:]
        assert f"PID {servers[0].pid}" in output
        assert _gone(servers[0].pid)
        assert not list((home / RECORD_DIR).glob("*.json"))
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(timeout=10)
        for server in servers:
            if not _gone(server.pid):
                server.kill()


PLAIN_CHILD = [sys.executable, "-c", "import time; time.sleep(120)"]
# A stand-in for Prefect's server: its command line carries the server mark.
FAKE_SERVER = [*PLAIN_CHILD, SERVER_COMMAND_MARK]

# Records its home, starts a fake server and a plain child, prints their PIDs, and
# dies by SIGKILL, as a killed CLI run would. The children write nowhere, so they do
# not hold the output pipe open.
KILLED_OWNER = f"""
import os, signal, subprocess, sys
from pathlib import Path
from leadshare.leftover_server import record_server
with record_server(Path(sys.argv[1])):
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = subprocess.Popen({FAKE_SERVER!r}, **quiet)
    child = subprocess.Popen({PLAIN_CHILD!r}, **quiet)
    print(server.pid, child.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _start_killed_owner(home: Path) -> tuple[int, int]:
    owner = subprocess.run(
        [sys.executable, "-c", KILLED_OWNER, str(home)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert owner.returncode == -signal.SIGKILL, owner.stderr
    server_pid, child_pid = (int(word) for word in owner.stdout.split())
    return server_pid, child_pid


def test_server_of_live_owner_untouched(tmp_path):
    home = tmp_path / "home"
    with record_server(home):
        server = subprocess.Popen(FAKE_SERVER)
    try:
        assert stop_leftover_servers(home) == []
        assert not _gone(server.pid)
        assert len(list((home / RECORD_DIR).glob("*.json"))) == 1
    finally:
        server.kill()
        server.wait(timeout=10)


def test_dead_owner_server_stopped_in_own_home(tmp_path):
    homes = [tmp_path / "a", tmp_path / "b"]
    pids: list[int] = []
    try:
        for home in homes:
            pids.extend(_start_killed_owner(home))
        server_a, child_a, server_b, child_b = pids

        assert stop_leftover_servers(homes[0]) == [server_a]
        assert _gone(server_a)
        assert not _gone(child_a)  # not a Prefect server
        assert not _gone(server_b)  # recorded in another home
        assert not list((homes[0] / RECORD_DIR).glob("*.json"))

        assert stop_leftover_servers(homes[1]) == [server_b]
        assert _gone(server_b)
    finally:
        for pid in pids:
            if not _gone(pid):
                psutil.Process(pid).kill()


def test_record_without_token_still_stopped(tmp_path):
    """A record written before owner tokens names the server by PID."""
    home = tmp_path / "home"
    # The owner waits for its input to close, so that its creation time can be read.
    owner = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    owner_created = psutil.Process(owner.pid).create_time()
    owner.communicate(timeout=10)
    server = subprocess.Popen(FAKE_SERVER)
    try:
        (home / RECORD_DIR).mkdir(parents=True)
        (home / RECORD_DIR / f"{owner.pid}.json").write_text(
            json.dumps(
                {
                    "cli_pid": owner.pid,
                    "cli_created": owner_created,
                    "server_pid": server.pid,
                    "server_created": psutil.Process(server.pid).create_time(),
                }
            )
        )

        assert stop_leftover_servers(home) == [server.pid]
        assert server.poll() is not None
        assert not list((home / RECORD_DIR).glob("*.json"))
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)
