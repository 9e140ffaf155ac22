"""Failpoints stop the process with status 77 at the named step only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from leadshare import failpoints
from leadshare.errors import ConfigError

PROJECT = Path(__file__).resolve().parents[1]
SCRIPT = """
import logging, sys
logging.basicConfig(stream=sys.stderr, level=logging.INFO)
from leadshare import failpoints
failpoints.hit("after_parse")
print("passed after_parse", flush=True)
failpoints.hit("after_commit")
print("passed after_commit", flush=True)
"""


def _run(failpoint: str | None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != failpoints.ENV_VAR}
    if failpoint is not None:
        environment[failpoints.ENV_VAR] = failpoint
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unset_runs_through():
    result = _run(None)
    assert result.returncode == 0
    assert "passed after_commit" in result.stdout


def test_named_step_exits_77():
    result = _run("after_commit")
    assert result.returncode == failpoints.EXIT_STATUS
    assert "passed after_parse" in result.stdout
    assert "passed after_commit" not in result.stdout
    assert "failpoint after_commit reached" in result.stderr


def test_unknown_env_value_raises(monkeypatch):
    monkeypatch.setenv(failpoints.ENV_VAR, "after_prase")
    with pytest.raises(ConfigError, match="after_prase"):
        failpoints.hit("after_parse")


def test_unknown_name_raises(monkeypatch):
    monkeypatch.delenv(failpoints.ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="not_a_step"):
        failpoints.hit("not_a_step")


def test_other_name_returns(monkeypatch):
    monkeypatch.setenv(failpoints.ENV_VAR, "after_commit")
    assert failpoints.hit("after_parse") is None


def test_names_documented():
    for name in failpoints.FAILPOINTS:
        assert f"``{name}``" in (failpoints.__doc__ or "")
