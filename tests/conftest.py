"""Shared fixtures: the Prefect test harness, shared data, a fresh LEADSHARE_HOME."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_API_HOST", "127.0.0.1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


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
    return root
