"""A killed CLI run leaves Prefect's temporary server; the next command stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil

from leadshare import failpoints
from leadshare.generate import write_leads
from leadshare.leftover_server import RECORD_DIR

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
    server_pid = json.loads(records[0].read_text())["server_pid"]
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
