"""Kill a sharing run at each named fail point, rerun it, and check nothing is lost or sent twice."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest
import yaml
from httpserver import LocalEndpoint
from test_flow_share import SECRET, write_partners

from leadshare import failpoints

REPO = Path(__file__).resolve().parents[1]
FAILPOINTS = sorted(failpoints.FAILPOINTS)


@pytest.fixture(scope="module")
def api_url(prefect_harness) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def cli_env(home: Path, api_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of a CLI process on ``home``, without a failpoint."""
    env = dict(
        os.environ,
        LEADSHARE_HOME=str(home),
        PREFECT_API_URL=api_url,
        TEST_PARTNER_SECRET=SECRET,
    )
    env.pop("LEADSHARE_FAILPOINT", None)
    env.update(extra)
    return env


def start_cli(env: dict[str, str], *args: str) -> subprocess.Popen:
    """Start ``leadshare ARGS`` in the repository, its output piped as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "leadshare.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _cli(
    home: Path, api_url: str, *args: str, failpoint: str | None = None
) -> subprocess.CompletedProcess:
    extra = {"LEADSHARE_FAILPOINT": failpoint} if failpoint else {}
    return subprocess.run(
        [sys.executable, "-m", "leadshare.cli", *args],
        cwd=REPO,
        env=cli_env(home, api_url, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _dropped_lead_ids(home: Path) -> list[str]:
    ids = []
    for path in (home / "outbox" / "file_drop").rglob("*.csv"):
        with path.open(newline="", encoding="utf-8") as handle:
            ids.extend(row["lead_id"] for row in csv.DictReader(handle))
    return ids


@pytest.mark.slow
@pytest.mark.parametrize("failpoint", FAILPOINTS)
def test_crash_then_rerun_loses_nothing(failpoint, home, api_url, shared_dir, tmp_path):
    source = tmp_path / "leads.csv"
    shutil.copyfile(shared_dir / "data/datablist-leads/leads-10000.csv", source)
    with LocalEndpoint(secret=SECRET) as endpoint:
        write_partners(home, endpoint.url, hook_capacity=10)

        crashed = _cli(
            home,
            api_url,
            "share",
            "--profile",
            "datablist",
            "--json",
            str(source),
            failpoint=failpoint,
        )
        assert crashed.returncode == 77, crashed.stderr[-2000:]

        rerun = _cli(home, api_url, "run")
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        final = _cli(home, api_url, "status")
        assert final.returncode == 0, final.stderr[-2000:]

        with duckdb.connect(str(home / "leadshare.duckdb"), read_only=True) as con:
            outcomes = con.execute(
                "select count(*), count(distinct source_row) from row_outcomes"
            ).fetchone()
            hook_sent = con.execute(
                "select count(*) from transfers where partner_id = 'P-HOOK' and status = 'sent'"
            ).fetchone()[0]
            pending = con.execute(
                "select count(*) from transfers where status = 'pending'"
            ).fetchone()[0]
            reported = con.execute(
                "select sum(rows_in) from runs where status = 'completed'"
            ).fetchone()[0]

    assert outcomes == (10000, 10000)
    assert reported == 10000
    assert pending == 0
    assert hook_sent == 10
    assert len(endpoint.accepted_ids) == 10
    assert len(set(endpoint.accepted_ids)) == 10
    dropped = _dropped_lead_ids(home)
    assert len(dropped) == len(set(dropped)) == 40
    assert not list((home / "inbox").rglob("*.csv"))


def test_share_json_summary_contract(home, api_url, tmp_path):
    """``leadshare share --profile NAME --json FILE`` prints outcomes that add up."""
    source = tmp_path / "few.csv"
    source.write_text(
        "email,first_name,last_name,company,country,phone,consent_share,lead_source\n"
        "ana@example.com,Ana,Ruiz,Ruiz Marine,US,(202) 555-0143,yes,referral\n"
        "Select,Ben,Okafor,Okafor Build,US,,yes,referral\n",
        encoding="utf-8",
    )
    with LocalEndpoint(secret=SECRET) as endpoint:
        write_partners(home, endpoint.url)
        result = _cli(
            home, api_url, "share", "--profile", "generic", "--json", str(source)
        )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["rows_in"] == 2
    assert sum(summary["outcomes"].values()) == 2
    assert summary["outcomes"]["quarantined"] == 1


@pytest.mark.slow
def test_share_and_run_at_once(home, api_url, tmp_path):
    """A ``share`` and a ``run`` started together on one DuckDB home lose nothing."""
    from leadshare.generate import write_leads

    waiting = write_leads(home / "inbox" / "generic" / "waiting.csv", 500, seed=41)
    argument = write_leads(tmp_path / "argument.csv", 500, seed=42)
    env = cli_env(home, api_url)
    commands = [["share", "--json", str(argument)], ["run"]]
    with LocalEndpoint(secret=SECRET) as endpoint:
        write_partners(home, endpoint.url, hook_capacity=100)
        processes = [start_cli(env, *command) for command in commands]
        outputs = [process.communicate(timeout=300) for process in processes]
        final = _cli(home, api_url, "run")

    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
    assert final.returncode == 0, final.stderr[-2000:]
    with duckdb.connect(str(home / "leadshare.duckdb"), read_only=True) as con:
        outcomes = con.execute(
            "select count(*), count(distinct (file_id, source_row)) from row_outcomes"
        ).fetchone()
        rows_in = con.execute("select sum(rows_in) from runs").fetchone()[0]
        pending = con.execute(
            "select count(*) from transfers where status = 'pending'"
        ).fetchone()[0]
    assert outcomes == (1000, 1000)
    assert rows_in == 1000
    assert pending == 0
    assert endpoint.duplicates == 0
    assert len(endpoint.accepted_ids) == len(set(endpoint.accepted_ids)) > 0
    assert not waiting.exists()
    assert not list((home / "inbox").rglob("*.csv"))


def _command_line(process: psutil.Process) -> str:
    """Return the command line of ``process``, or "" once it has exited."""
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return ""


@pytest.mark.slow
def test_interrupt_stops_run_at_once(home, api_url, tmp_path):
    """Ctrl-C during a CLI run with a temporary Prefect server ends it within seconds."""
    from leadshare.generate import write_leads

    source = write_leads(tmp_path / "leads.csv", 200_000, seed=43)
    # The example webhook partner's secret is set only by the demo, and without
    # it the rerun would exit 1 (its transfers wait for the secret).
    partners = home / "config" / "partners.yaml"
    config = yaml.safe_load(partners.read_text())
    config["partners"] = [p for p in config["partners"] if p["channel"] != "webhook"]
    partners.write_text(yaml.safe_dump(config))
    env = cli_env(home, api_url)
    # Without it the CLI starts its own temporary Prefect server, as on a laptop.
    env.pop("PREFECT_API_URL")
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "leadshare.cli", "share", "--json", str(source)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        cli = psutil.Process(process.pid)
        deadline = time.monotonic() + 240
        # The normalisation workers start once the run has claimed a large file.
        while not any(
            "serve_chunks" in _command_line(child)
            for child in cli.children(recursive=True)
        ):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        children = cli.children(recursive=True)
        try:
            # As a terminal's Ctrl-C does: the signal reaches the process group.
            os.killpg(process.pid, signal.SIGINT)
            started = time.monotonic()
            code = process.wait(timeout=60)
            stopped_after = time.monotonic() - started
        finally:
            for leftover in [cli, *children]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    leftover.kill()
    err = log.read_text()
    rerun = _cli(home, api_url, "run")
    with duckdb.connect(str(home / "leadshare.duckdb"), read_only=True) as con:
        outcomes = con.execute(
            "select count(*), count(distinct (file_id, source_row)) from row_outcomes"
        ).fetchone()
        statuses = dict(
            con.execute("select status, count(*) from runs group by 1").fetchall()
        )

    assert code == 128 + signal.SIGINT, err[-2000:]
    assert stopped_after < 15
    assert "SIGINT received: stopping the sharing run now" in err
    assert "KeyboardInterrupt" not in err, err[-4000:]
    assert len(children) >= 1
    assert not [child for child in children if child.is_running()]
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert outcomes == (200_000, 200_000)
    assert statuses == {"crashed": 1, "completed": 1}
