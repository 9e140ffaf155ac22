"""The whole sharing flow with LEADSHARE_DB_URL pointing at a real PostgreSQL 15.

Each test gets a fresh database on the session's server (``postgres_url``), runs
the flow through Prefect's test harness and delivers to a real local HTTP webhook
receiver on 127.0.0.1, as test_flow_share.py does on DuckDB.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from httpserver import LocalEndpoint, Reply
from test_approvals import HEADER, ROWS
from test_crash import cli_env, start_cli
from test_flow_share import (
    SECRET,
    db_rows,
    run_share,
    write_partners,
    write_reimport_files,
)
from typer.testing import CliRunner

from leadshare.generate import write_leads

pytestmark = pytest.mark.usefixtures("prefect_harness")

BATCH_ROWS = 800
ROW_OUTCOMES = "select source_row, outcome, rule, lead_id from row_outcomes order by 1"
LEADS = (
    "select lead_id, source_row, email_key, phone_e164, country, score, consent_at, "
    "last_activity_at from leads order by lead_id"
)
WEBHOOK_SCRIPT = [500, Reply(429, headers={"Retry-After": "1"})]


def pg_rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _use_postgres(tmp_path: Path, home: Path, url: str, monkeypatch) -> Path:
    """Switch LEADSHARE_HOME to a new folder with ``home``'s config, on ``url``."""
    pg_home = tmp_path / "pg-home"
    shutil.copytree(home / "config", pg_home / "config")
    monkeypatch.setenv("LEADSHARE_HOME", str(pg_home))
    monkeypatch.setenv("LEADSHARE_DB_URL", url)
    return pg_home


def _partner_counts(summary: dict) -> dict[str, dict]:
    return {p["partner"]: p for p in summary["partners"]}


@pytest.fixture
def pg_home(home, postgres_url, monkeypatch) -> Path:
    monkeypatch.setenv("LEADSHARE_DB_URL", postgres_url)
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    return home


def test_share_run_matches_duckdb(home, postgres_url, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    path = write_leads(tmp_path / "batch.csv", BATCH_ROWS, seed=11)
    with LocalEndpoint(script=WEBHOOK_SCRIPT, secret=SECRET) as endpoint:
        write_partners(home, endpoint.url)
        on_duckdb = run_share(home, "generic", path)
    pg_home = _use_postgres(tmp_path, home, postgres_url, monkeypatch)
    with LocalEndpoint(script=WEBHOOK_SCRIPT, secret=SECRET) as endpoint:
        write_partners(pg_home, endpoint.url)
        on_postgres = run_share(pg_home, "generic", path)

    assert on_postgres["rows_in"] == BATCH_ROWS
    assert on_postgres["outcomes"] == on_duckdb["outcomes"]
    assert sum(on_postgres["outcomes"].values()) == BATCH_ROWS
    assert on_postgres["outcomes"]["shared"] > 0
    assert on_postgres["outcomes"]["duplicate"] > 0
    assert _partner_counts(on_postgres) == _partner_counts(on_duckdb)
    assert pg_rows(
        postgres_url, "select count(*), count(distinct source_row) from row_outcomes"
    ) == [(BATCH_ROWS, BATCH_ROWS)]
    assert pg_rows(postgres_url, ROW_OUTCOMES) == db_rows(home, ROW_OUTCOMES)
    assert pg_rows(postgres_url, LEADS) == db_rows(home, LEADS)
    assert all(request.signature_valid for request in endpoint.requests)
    assert not list((pg_home / "inbox").rglob("*.csv"))
    assert not (pg_home / "leadshare.duckdb").exists()


def test_rerun_sends_nothing_twice(pg_home, postgres_url, tmp_path):
    path = write_leads(tmp_path / "batch.csv", BATCH_ROWS, seed=11)
    with LocalEndpoint(script=WEBHOOK_SCRIPT, secret=SECRET) as endpoint:
        write_partners(pg_home, endpoint.url)
        first = run_share(pg_home, "generic", path)
        posts_after_first = len(endpoint.requests)
        second = run_share(pg_home, "generic", path)
        third = run_share(pg_home, "generic")

    assert first["rows_in"] == BATCH_ROWS
    assert second["rows_in"] == 0
    assert [f["file"] for f in second["skipped_files"]] == ["batch.csv"]
    assert third["rows_in"] == 0
    assert len(endpoint.requests) == posts_after_first
    assert endpoint.duplicates == 0
    assert len(endpoint.accepted_ids) == len(set(endpoint.accepted_ids))
    assert pg_rows(postgres_url, "select count(*) from source_files") == [(1,)]
    sent = pg_rows(
        postgres_url,
        "select count(*), count(distinct (lead_id, partner_id)) from transfers",
    )
    assert sent[0][0] == sent[0][1]
    hook_sent = pg_rows(
        postgres_url,
        "select count(*) from transfers "
        "where partner_id = 'P-HOOK' and status = 'sent'",
    )
    assert hook_sent == [(len(endpoint.accepted_ids),)]


def test_cli_reads_postgres(pg_home, postgres_url, tmp_path, monkeypatch):
    from leadshare import cli

    # rich sizes its tables from COLUMNS; a wide terminal keeps each row on one line.
    monkeypatch.setenv("COLUMNS", "200")
    source = tmp_path / "strategic.csv"
    source.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    runner = CliRunner()
    with LocalEndpoint(secret=SECRET) as endpoint:
        write_partners(pg_home, endpoint.url, hook_capacity=100)
        summary = run_share(pg_home, "generic", source)
        queue = runner.invoke(cli.app, ["approvals", "list"])
        status = runner.invoke(cli.app, ["status"])
        (globex,) = pg_rows(
            postgres_url, "select lead_id from leads where company = 'Globex'"
        )[0]
        approve = runner.invoke(cli.app, ["approvals", "approve", globex])
        run_share(pg_home, "generic")
        explain = runner.invoke(cli.app, ["explain", globex])

    assert summary["outcomes"]["awaiting_approval"] == 3
    assert queue.exit_code == 0, queue.output
    assert "3 leads awaiting approval" in queue.output
    assert globex in queue.output
    assert status.exit_code == 0, status.output
    assert summary["run_id"] in status.output
    assert "awaiting_approval 3" in status.output
    assert approve.exit_code == 0, approve.output
    assert approve.output.startswith(f"Approved {globex}")
    assert len(endpoint.accepted_ids) == 2
    assert explain.exit_code == 0, explain.output
    assert f"Lead {globex} comes from row 1 of strategic.csv" in explain.output
    assert "Outcome: shared (rule approved)" in explain.output
    assert "to P-HOOK via webhook: sent after 1 attempt in all runs." in explain.output


def test_corrected_reimport_replaces_lead(pg_home, postgres_url, tmp_path):
    first, second = write_reimport_files(tmp_path)
    with LocalEndpoint(secret=SECRET) as endpoint:
        write_partners(pg_home, endpoint.url)
        run_share(pg_home, "generic", first)
        after = run_share(pg_home, "generic", second)

    outcomes = {name: n for name, n in after["outcomes"].items() if n}
    assert outcomes == {"shared": 1, "duplicate": 2, "suppressed": 1}
    (new_ann,) = pg_rows(
        postgres_url,
        "select lead_id from row_outcomes where outcome = 'shared'",
    )[0]
    replaced = pg_rows(
        postgres_url,
        "select outcome, rule, lead_id from row_outcomes "
        "where source_row = 1 and reason like 'replaced by %'",
    )
    assert replaced == [("duplicate", "replaced_by_reimport", new_ann)]
    waiting = pg_rows(
        postgres_url,
        "select count(*) from row_outcomes where outcome = 'no_eligible_partner'",
    )
    assert waiting == [(1,)]


def test_jsonl_nul_escape_quarantined(pg_home, postgres_url, tmp_path):
    from test_flow_share import _jsonl_lead

    path = tmp_path / "nul.jsonl"
    lines = [_jsonl_lead(1, "Jo\\u0000hn"), _jsonl_lead(2, "Mary")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with LocalEndpoint(script=WEBHOOK_SCRIPT, secret=SECRET) as endpoint:
        write_partners(pg_home, endpoint.url)
        summary = run_share(pg_home, "generic", path)

    assert summary["rows_in"] == 2
    assert summary["outcomes"]["quarantined"] == 1
    rows = pg_rows(
        postgres_url, "select source_row, outcome from row_outcomes order by 1"
    )
    assert rows[0] == (1, "quarantined")
    assert rows[1][1] != "quarantined"
    assert not list((pg_home / "inbox").rglob("*.jsonl"))


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def _start_cli(home: Path, postgres_url: str, *args: str) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = cli_env(home, PREFECT_API_URL.value(), LEADSHARE_DB_URL=postgres_url)
    return start_cli(env, *args)


@pytest.mark.slow
def test_two_processes_share_once(home, postgres_url, tmp_path):
    """Two homes share into one database at once; the lock loser retries."""
    first = _csv_rows(write_leads(tmp_path / "a.csv", 600, seed=31))
    other = _csv_rows(write_leads(tmp_path / "new.csv", 300, seed=32))
    # The second file repeats 300 people of the first, so both processes see them.
    files = [
        _write_csv(tmp_path / "a.csv", first),
        _write_csv(tmp_path / "b.csv", first[:301] + other[1:]),
    ]
    homes = [tmp_path / "home-a", tmp_path / "home-b"]
    with LocalEndpoint(secret=SECRET) as endpoint:
        for each_home in homes:
            shutil.copytree(home / "config", each_home / "config")
            write_partners(each_home, endpoint.url, hook_capacity=100)
        shares = [
            _start_cli(each_home, postgres_url, "share", "--json", str(path))
            for each_home, path in zip(homes, files, strict=True)
        ]
        finished = [process.communicate(timeout=300) for process in shares]
        reruns = []
        for each_home in homes:
            process = _start_cli(each_home, postgres_url, "run")
            process.communicate(timeout=300)
            reruns.append(process.returncode)

    codes = [process.returncode for process in shares]
    assert all(code in (0, 2) for code in codes), finished
    for code, (out, err) in zip(codes, finished, strict=True):
        if code == 2:
            assert "another sharing run is using store" in out + err
    assert pg_rows(postgres_url, "select sum(rows_in) from runs") == [(1200,)]
    assert pg_rows(
        postgres_url,
        "select count(*), count(distinct (file_id, source_row)) from row_outcomes",
    ) == [(1200, 1200)]
    shared_twice = pg_rows(
        postgres_url,
        "select l.email_key from transfers t join leads l using (lead_id) "
        "where l.email_key is not null group by 1 having count(*) > 1",
    )
    assert shared_twice == []
    assert endpoint.duplicates == 0
    assert len(endpoint.accepted_ids) == len(set(endpoint.accepted_ids)) > 0
    assert reruns == [0, 0]
