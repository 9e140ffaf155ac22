"""The whole sharing flow through Prefect's test harness on real lead files.

A real DuckDB file in a temporary LEADSHARE_HOME, a real local HTTP server as the
webhook partner (it verifies signatures and deduplicates on webhook-id) and as Slack.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
import yaml
from httpserver import LocalEndpoint, Reply
from typer.testing import CliRunner

SECRET = "whsec_dGVzdC1wYXJ0bmVyLXNlY3JldC1mb3ItbGVhZHNoYXJl"
pytestmark = pytest.mark.usefixtures("prefect_harness")


def write_partners(home: Path, hook_url: str, hook_capacity: int = 30) -> None:
    common = {"timezone": "UTC", "performance": 0.6}
    partners = [
        {
            "id": "P-HOOK",
            "name": "Hook Inc",
            "tier": "gold",
            "territory": {"countries": ["US"]},
            "capacity_per_day": hook_capacity,
            "capacity_per_week": 5 * hook_capacity,
            "channel": "webhook",
            "webhook": {"url": hook_url, "secret": "env:TEST_PARTNER_SECRET"},
            "fields": [
                "lead_id",
                "first_name",
                "company",
                "email",
                "phone_e164",
                "score",
            ],
            **common,
        },
        {
            "id": "P-DROP",
            "name": "Drop LLC",
            "tier": "silver",
            "territory": {"countries": ["US"]},
            "capacity_per_day": 40,
            "capacity_per_week": 200,
            "channel": "file_drop",
            "fields": ["lead_id", "company", "email", "notes"],
            **common,
        },
        {
            "id": "P-INDIA",
            "name": "India Ed",
            "tier": "gold",
            "territory": {"countries": ["IN"]},
            "capacity_per_day": 3000,
            "capacity_per_week": 9000,
            "channel": "file_drop",
            "fields": ["lead_id", "external_id", "city", "industry", "score"],
            **common,
        },
        {
            "id": "P-INCRM",
            "name": "India CRM",
            "tier": "silver",
            "territory": {"countries": ["IN"]},
            "capacity_per_day": 1000,
            "capacity_per_week": 5000,
            "channel": "crm_export",
            "crm_owner_id": "OWN-1",
            "fields": ["lead_id", "external_id", "city"],
            **common,
        },
        {
            "id": "P-PAUSED",
            "name": "Paused",
            "status": "paused",
            "territory": {"countries": ["US", "IN"]},
            "capacity_per_day": 1000,
            "capacity_per_week": 5000,
            "channel": "manual",
            "fields": ["lead_id"],
            **common,
        },
    ]
    (home / "config" / "partners.yaml").write_text(
        yaml.safe_dump({"partners": partners})
    )


def run_share(home: Path, profile: str, *files: Path, deliver: bool = True) -> dict:
    from flows.share import share_leads

    for path in files:
        target = home / "inbox" / profile / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return share_leads.with_options(retries=0)(deliver=deliver)


def db_rows(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "leadshare.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def partner(home, monkeypatch):
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    with LocalEndpoint(
        script=[500, Reply(429, headers={"Retry-After": "1"})], secret=SECRET
    ) as endpoint:
        write_partners(home, endpoint.url)
        yield endpoint


@pytest.mark.slow
def test_xeducation_every_row_has_one_outcome(home, partner, shared_dir):
    summary = run_share(
        home, "xeducation", shared_dir / "data/xeducation-leads/Leads.csv"
    )
    outcomes = summary["outcomes"]

    assert summary["rows_in"] == 9240
    assert sum(outcomes.values()) == 9240
    assert db_rows(
        home, "select count(*), count(distinct source_row) from row_outcomes"
    ) == [(9240, 9240)]
    # 734 rows with Do Not Email "Yes" and 3 whose Last Activity is Unsubscribed.
    assert outcomes["suppressed"] >= 737
    assert outcomes["shared"] > 0
    assert outcomes["no_eligible_partner"] > 0
    assert not list((home / "inbox").rglob("*.csv"))
    assert list((home / "processed").rglob("*Leads.csv"))


@pytest.mark.slow
def test_datablist_webhook_signed_retried_once(home, partner, shared_dir):
    source = shared_dir / "data/datablist-leads/leads-10000.csv"
    summary = run_share(home, "datablist", source)

    assert summary["rows_in"] == 10000
    assert sum(summary["outcomes"].values()) == 10000
    hook = next(p for p in summary["partners"] if p["partner"] == "P-HOOK")
    assert hook["offered"] == 30
    assert hook["sent"] == 30
    assert len(partner.accepted_ids) == 30
    assert all(request.signature_valid for request in partner.requests)
    statuses = [request.status for request in partner.requests[:3]]
    assert statuses == [500, 429, 200]
    first_ids = {request.headers["webhook-id"] for request in partner.requests[:3]}
    assert len(first_ids) == 1
    drops = list((home / "outbox" / "file_drop" / "P-DROP").glob("*.csv"))
    assert len(drops) == 1


@pytest.mark.slow
def test_rerun_and_same_file_send_nothing_twice(home, partner, shared_dir):
    source = shared_dir / "data/datablist-leads/leads-10000.csv"
    run_share(home, "datablist", source)
    posts_after_first = len(partner.requests)

    second = run_share(home, "datablist", source)

    assert second["rows_in"] == 0
    assert [f["file"] for f in second["skipped_files"]] == ["leads-10000.csv"]
    assert "same content as leads-10000.csv" in second["skipped_files"][0]["reason"]
    assert len(partner.requests) == posts_after_first
    assert partner.duplicates == 0
    assert db_rows(home, "select count(*) from source_files") == [(1,)]
    sent = db_rows(
        home, "select count(*), count(distinct (lead_id, partner_id)) from transfers"
    )
    assert sent[0][0] == sent[0][1]


def test_same_content_twice_in_one_run(home, partner, tmp_path):
    from leadshare.generate import write_leads

    first = write_leads(tmp_path / "a.csv", 300, seed=5)
    copy = tmp_path / "b.csv"
    shutil.copyfile(first, copy)
    summary = run_share(home, "generic", first, copy)

    assert summary["rows_in"] == 300
    assert sum(summary["outcomes"].values()) == 300
    assert [f["file"] for f in summary["skipped_files"]] == ["b.csv"]
    assert "same content as a.csv" in summary["skipped_files"][0]["reason"]
    assert db_rows(home, "select count(*) from source_files") == [(1,)]
    assert db_rows(home, "select count(*) from row_outcomes") == [(300,)]
    assert not list((home / "inbox").rglob("*.csv"))
    archived = sorted(
        p.name.split("-", 1)[1] for p in (home / "processed").rglob("*.csv")
    )
    assert archived == ["a.csv", "b.csv"]


def test_rejected_file_read_again_after_fix(home, partner, shared_dir, tmp_path):
    source = shared_dir / "data" / "xeducation-leads" / "Leads.csv"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    sample = tmp_path / "xed200.csv"
    sample.write_text("".join(lines[:201]), encoding="utf-8")

    # Dropped without its profile, the file fails the generic column gate.
    first = run_share(home, "generic", sample)
    assert [f["file"] for f in first["rejected_files"]] == ["xed200.csv"]
    assert first["rows_in"] == 0

    # Dropped again under the right profile, the same bytes are read this time.
    second = run_share(home, "xeducation", sample)
    assert second["rejected_files"] == []
    assert second["skipped_files"] == []
    assert second["rows_in"] == 200
    assert sum(second["outcomes"].values()) == 200


def test_unknown_profile_folder_quarantined(home, partner, tmp_path):
    from leadshare.generate import write_leads

    write_leads(tmp_path / "b.csv", 50, seed=4)
    good = write_leads(tmp_path / "c.csv", 80, seed=6)
    misplaced = home / "inbox" / "Generic" / "b.csv"
    misplaced.parent.mkdir(parents=True)
    shutil.copyfile(tmp_path / "b.csv", misplaced)

    summary = run_share(home, "generic", good)
    assert summary["rows_in"] == 80
    assert [f["file"] for f in summary["rejected_files"]] == ["b.csv"]
    reason = summary["rejected_files"][0]["reason"]
    assert "inbox folder 'Generic' names no source profile" in reason
    assert "inbox/generic/" in reason
    assert not misplaced.exists()
    quarantined = list((home / "quarantine" / "Generic").glob("*b.csv"))
    assert len(quarantined) == 1
    assert summary["rejected_files"][0]["quarantined_as"] == str(quarantined[0])


def test_failed_run_marked_then_taken_over(home, partner, tmp_path, monkeypatch):
    from leadshare import pipeline
    from leadshare.generate import write_leads

    first = write_leads(tmp_path / "first.csv", 120, seed=12)
    second = write_leads(tmp_path / "second.csv", 60, seed=13)
    real_match = pipeline.match_batch
    calls = []

    def match_then_fail(ctx, frame, batch):
        # The first file commits; matching the second one raises.
        calls.append(len(frame))
        if len(calls) == 2:
            raise RuntimeError("matching failed on purpose")
        return real_match(ctx, frame, batch)

    monkeypatch.setattr(pipeline, "match_batch", match_then_fail)
    with pytest.raises(RuntimeError, match="on purpose"):
        run_share(home, "generic", first, second)
    assert db_rows(home, "select status, summary from runs") == [("failed", None)]

    monkeypatch.setattr(pipeline, "match_batch", real_match)
    summary = share_leads_once()
    # The next run reads the second file and reports the first one's rows too.
    assert summary["rows_in"] == 180
    assert sum(summary["outcomes"].values()) == 180
    assert len(summary["taken_over_runs"]) == 1


LOCK_HOLDER = """
import sys, time
from leadshare.store import LeadStore
with LeadStore(sys.argv[1]).exclusive_run("run-holder"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_run_waits_for_store_held(home, partner, tmp_path, monkeypatch):
    """Check that a command opening the store mid-run delays the run, not fails it."""
    from test_store import duckdb_file_held

    from leadshare import pipeline
    from leadshare.generate import write_leads

    original_commit = pipeline.commit_batch
    holders = []

    def commit_while_held(ctx, item, *args):
        # The holder opens the file before the commit's transaction does.
        with duckdb_file_held(home / "leadshare.duckdb", 1.5) as pid:
            holders.append(pid)
            return original_commit(ctx, item, *args)

    monkeypatch.setattr(pipeline, "commit_batch", commit_while_held)
    source = write_leads(tmp_path / "held.csv", 80, seed=37)
    summary = run_share(home, "generic", source)

    assert len(holders) == 1
    assert summary["rows_in"] == 80
    assert sum(summary["outcomes"].values()) == 80
    assert summary["errors"] == []
    assert db_rows(home, "select status from runs") == [("completed",)]
    assert db_rows(home, "select count(*) from row_outcomes") == [(80,)]


def test_share_summary_kept_when_store_held(home, partner, tmp_path, monkeypatch):
    import contextlib
    import json

    from test_store import duckdb_file_held

    from leadshare import cli
    from leadshare.generate import write_leads

    original_run = cli._run_flow
    lock_holders = contextlib.ExitStack()

    def run_then_hold(*args):
        summary = original_run(*args)
        lock_holders.enter_context(duckdb_file_held(home / "leadshare.duckdb", 60))
        return summary

    monkeypatch.setattr(cli, "_run_flow", run_then_hold)
    # The run's own units of work are done before the file is held.
    monkeypatch.setenv("LEADSHARE_STORE_WAIT_S", "0.2")
    source = write_leads(tmp_path / "late.csv", 40, seed=38)
    with lock_holders:
        result = CliRunner().invoke(cli.app, ["share", "--json", str(source)])
    summary = json.loads(result.stdout)

    assert result.exit_code == 1
    assert summary["rows_in"] == 40
    assert sum(summary["outcomes"].values()) == 40
    assert summary["files_in_other_runs"] is None
    assert len(summary["errors"]) == 1
    assert summary["errors"][0].startswith("the run finished, but whether another")
    assert "is locked by another process (PID" in summary["errors"][0]
    assert "Traceback" not in result.output


@contextmanager
def run_lock_held(home: Path) -> Iterator[None]:
    """Hold the run lock of ``home``'s DuckDB store in another process."""
    url = f"duckdb:///{home / 'leadshare.duckdb'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        # A killed holder leaves no lock behind: the kernel drops it.
        holder.kill()
        holder.wait()


def test_second_run_rejected_while_locked(home, partner, tmp_path):
    from leadshare.errors import RunLockedError
    from leadshare.generate import write_leads

    with run_lock_held(home):
        path = write_leads(tmp_path / "leads.csv", 200, seed=9)
        with pytest.raises(RunLockedError, match="run run-holder"):
            run_share(home, "generic", path)
        # Nothing happened: no run recorded, the file still waits in the inbox.
        assert db_rows(home, "select count(*) from runs") == [(0,)]
        assert (home / "inbox" / "generic" / "leads.csv").exists()
    summary = share_leads_once()
    assert summary["rows_in"] == 200
    assert sum(summary["outcomes"].values()) == 200


class _RecordingFilter(logging.Filter):
    """A logger filter that keeps each record it receives and lets it through.

    A filter, unlike a handler, survives Prefect's logging setup, which replaces
    the handlers of its loggers when the first flow run of a process starts.
    """

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True


def test_lock_loser_logged_without_traceback(home, partner):
    from leadshare.errors import RunLockedError

    # Added after the filter that flows.share installs, so it receives its result.
    recording = _RecordingFilter()
    flow_runs = logging.getLogger("prefect.flow_runs")
    flow_runs.addFilter(recording)
    try:
        with run_lock_held(home), pytest.raises(RunLockedError):
            run_share(home, "generic")
    finally:
        flow_runs.removeFilter(recording)
    (record,) = [
        r for r in recording.records if "Encountered exception" in r.getMessage()
    ]

    assert "RunLockedError(" in record.getMessage()
    assert "another sharing run is using store" in record.getMessage()
    assert record.exc_info is None
    assert record.exc_text is None


def share_leads_once() -> dict:
    from flows.share import share_leads

    return share_leads.with_options(retries=0)()


def test_two_files_of_one_profile(home, partner, tmp_path):
    from leadshare.generate import write_leads

    first = write_leads(tmp_path / "g1.csv", 700, seed=21)
    second = write_leads(tmp_path / "g2.csv", 500, seed=22)
    summary = run_share(home, "generic", first, second)

    assert summary["rows_in"] == 1200
    assert sum(summary["outcomes"].values()) == 1200
    assert sorted(f["file"] for f in summary["files"]) == ["g1.csv", "g2.csv"]
    # Each file's groups have their own ids, so both commits keep their decisions.
    groups = db_rows(
        home, "select count(distinct split_part(group_id, ':', 2)) from decision_groups"
    )
    assert groups == [(2,)]


def test_rejected_file_quarantined_with_reason(home, partner, tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    summary = run_share(home, "generic", bad)

    assert summary["rows_in"] == 0
    assert [f["file"] for f in summary["rejected_files"]] == ["empty.csv"]
    reasons = list((home / "quarantine").rglob("*.reason.txt"))
    assert len(reasons) == 1
    assert "empty.csv" in reasons[0].read_text()


def test_generated_leads_shared_and_explained(home, partner, tmp_path):
    from leadshare.explain import explain_lead
    from leadshare.generate import write_leads
    from leadshare.runtime import build_context

    path = write_leads(tmp_path / "example.csv", 1500, seed=11)
    summary = run_share(home, "generic", path)

    assert summary["rows_in"] == 1500
    assert sum(summary["outcomes"].values()) == 1500
    assert summary["outcomes"]["duplicate"] > 0
    lead_id = db_rows(
        home, "select lead_id from row_outcomes where outcome = 'shared' limit 1"
    )[0][0]
    text = "\n".join(explain_lead(build_context().store, lead_id))
    assert "chosen partner" in text
    assert "candidate" in text


def test_progress_stages_fill_the_plan(home, partner, tmp_path):
    from leadshare import progress
    from leadshare.generate import write_leads
    from test_progress import Recorder

    good = write_leads(tmp_path / "g1.csv", 300, seed=23)
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    recorder = Recorder()
    with progress.listening(recorder):
        run_share(home, "generic", good, bad)

    partners = len(yaml.safe_load((home / "config" / "partners.yaml").read_text())["partners"])
    assert recorder.steps == [1 + 2 * progress.FILE_STAGES + partners + 1]
    # A bar that counts stages and skipped stages ends full.
    assert len(recorder.stages) + recorder.skipped_steps == recorder.steps[0]
    assert recorder.stages[0] == "Offering waiting leads again"
    assert "Committing g1.csv" in recorder.stages
    assert "Delivering to P-HOOK" in recorder.stages
    assert recorder.stages[-1] == "Publishing the run report"


def test_missing_secret_blocks_leave_transfers_waiting(
    home, partner, tmp_path, monkeypatch
):
    from leadshare.generate import write_leads

    config = home / "config" / "partners.yaml"
    data = yaml.safe_load(config.read_text())
    data["partners"][0]["webhook"]["secret"] = "block:no-such-partner-secret"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("LEADSHARE_SLACK_WEBHOOK", "block:no-such-slack-url")

    summary = run_share(home, "generic", write_leads(tmp_path / "g.csv", 1500, seed=11))

    by_partner = {row["partner"]: row for row in summary["partners"]}
    assert by_partner["P-HOOK"]["offered"] > 0
    assert by_partner["P-HOOK"]["waiting"] == by_partner["P-HOOK"]["offered"]
    assert by_partner["P-DROP"]["sent"] > 0
    assert partner.requests == []
    assert sum(summary["outcomes"].values()) == 1500


class _RecordList(logging.Handler):
    """A logging handler that keeps every record it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_removed_partner_listed_as_waiting(home, partner, tmp_path):
    from leadshare.generate import write_leads

    config = home / "config" / "partners.yaml"
    data = yaml.safe_load(config.read_text())
    data["partners"][0]["webhook"]["secret"] = "block:no-such-partner-secret"
    config.write_text(yaml.safe_dump(data))
    first = run_share(home, "generic", write_leads(tmp_path / "g.csv", 1500, seed=11))
    waiting = {row["partner"]: row for row in first["partners"]}["P-HOOK"]["waiting"]
    assert waiting > 0

    data["partners"] = [p for p in data["partners"] if p["id"] != "P-HOOK"]
    config.write_text(yaml.safe_dump(data))
    # Whether caplog's root handler receives records from inside a flow run depends
    # on the order of tests, so the test listens on the module's logger itself.
    records = _RecordList()
    reporting_log = logging.getLogger("leadshare.reporting")
    reporting_log.addHandler(records)
    try:
        second = run_share(home, "generic")
    finally:
        reporting_log.removeHandler(records)

    hook = {row["partner"]: row for row in second["partners"]}["P-HOOK"]
    assert hook["waiting"] == waiting
    assert hook["pending_total"] == waiting
    assert hook["channel"] == "webhook"
    assert partner.requests == []
    assert sum(second["outcomes"].values()) == second["rows_in"]
    lines = [
        r.getMessage()
        for r in records.records
        if "not in partners.yaml" in r.getMessage()
    ]
    assert len(lines) == 1
    assert f"P-HOOK is not in partners.yaml but has {waiting:,} pending" in lines[0]


def test_misplaced_copy_does_not_block_good_copy(home, partner, tmp_path):
    from leadshare.generate import write_leads

    source = write_leads(tmp_path / "same.csv", 60, seed=8)
    # "abc" sorts before "generic", so the misplaced copy is found first.
    misplaced = home / "inbox" / "abc" / "same.csv"
    misplaced.parent.mkdir(parents=True)
    shutil.copyfile(source, misplaced)

    summary = run_share(home, "generic", source)

    assert summary["rows_in"] == 60
    assert [f["file"] for f in summary["files"]] == ["same.csv"]
    assert summary["rejected_files"] == []
    assert not misplaced.exists()
    assert not (home / "inbox" / "generic" / "same.csv").exists()
    assert len(list((home / "processed").rglob("*same.csv"))) == 2


def test_copy_rejected_under_other_profile_read(home, partner, tmp_path):
    from leadshare.generate import write_leads

    source = write_leads(tmp_path / "same.csv", 60, seed=8)
    # "datablist" sorts before "generic", so that copy is read first, and it fails
    # the datablist column gate.
    stray = home / "inbox" / "datablist" / "same.csv"
    stray.parent.mkdir(parents=True)
    shutil.copyfile(source, stray)

    summary = run_share(home, "generic", source)
    quarantined = home / "quarantine" / "datablist"

    assert summary["rows_in"] == 60
    assert sum(summary["outcomes"].values()) == 60
    assert summary["files"] == [
        {"file": "same.csv", "profile": "generic", "rows_in": 60}
    ]
    assert db_rows(home, "select count(*) from row_outcomes") == [(60,)]
    assert not stray.exists()
    assert not (home / "inbox" / "generic" / "same.csv").exists()
    assert len(list(quarantined.glob("*-same.csv"))) == 1
    assert len(list(quarantined.glob("*-same.csv.reason.txt"))) == 1
    assert len(list((home / "processed" / "generic").glob("*-same.csv"))) == 1
    assert not (home / "quarantine" / "generic").exists()


def test_share_reads_its_file_before_stray_copy(home, partner, tmp_path):
    import json

    from leadshare import cli
    from leadshare.generate import write_leads

    profiles = home / "config" / "profiles"
    # A second profile that accepts the generic columns too, and sorts first.
    text = (profiles / "generic.yaml").read_text(encoding="utf-8")
    profile = yaml.safe_load(text)
    profile["name"] = "another"
    (profiles / "another.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    source = write_leads(tmp_path / "same.csv", 60, seed=8)
    stray = home / "inbox" / "another" / "same.csv"
    stray.parent.mkdir(parents=True)
    shutil.copyfile(source, stray)

    result = CliRunner().invoke(
        cli.app, ["share", "--profile", "generic", "--json", str(source)]
    )
    summary = json.loads(result.stdout)

    assert summary["files"] == [
        {"file": "same.csv", "profile": "generic", "rows_in": 60}
    ]
    assert [f["file"] for f in summary["skipped_files"]] == ["same.csv"]
    assert "(profile generic)" in summary["skipped_files"][0]["reason"]
    assert db_rows(home, "select count(*) from row_outcomes") == [(60,)]
    assert len(list((home / "processed" / "another").glob("*-same.csv"))) == 1
    assert len(list((home / "processed" / "generic").glob("*-same.csv"))) == 1


def test_unsupported_and_temporary_inbox_files(home, partner, tmp_path):
    from leadshare.generate import write_leads

    source = write_leads(tmp_path / "good.csv", 40, seed=9)
    inbox = home / "inbox"
    (inbox / "generic").mkdir(parents=True)
    (inbox / "Leads.xlsx").write_bytes(b"PK\x03\x04 not a csv")
    (inbox / "generic" / "copying.csv.part").write_bytes(source.read_bytes())
    (inbox / ".staging").mkdir()
    (inbox / ".staging" / "later.csv").write_bytes(source.read_bytes())
    # The same bytes under a name leadshare does not read must not block good.csv.
    (inbox / "generic" / "good.dat").write_bytes(source.read_bytes())

    summary = run_share(home, "generic", source)

    assert summary["rows_in"] == 40
    assert [f["file"] for f in summary["rejected_files"]] == ["Leads.xlsx"]
    assert "'.xlsx' are not read" in summary["rejected_files"][0]["reason"]
    assert (inbox / "generic" / "copying.csv.part").exists()
    assert (inbox / ".staging" / "later.csv").exists()
    assert (inbox / "generic" / "good.dat").exists()

    second = share_leads_once()

    assert second["rows_in"] == 0
    assert not (inbox / "generic" / "good.dat").exists()
    assert list((home / "processed" / "generic").glob("*good.dat"))
    status = db_rows(
        home, "select status from source_files where file_name = 'good.csv'"
    )
    assert status == [("committed",)]


def test_long_undecodable_file_names(home, partner, tmp_path):
    from leadshare.generate import write_leads

    inbox = home / "inbox"
    (inbox / "generic").mkdir(parents=True)
    long_name = "l" * 240 + ".csv"
    write_leads(inbox / "generic" / long_name, 30, seed=11)
    latin1 = os.fsdecode(b"caf\xe9.csv")
    write_leads(inbox / "generic" / latin1, 20, seed=12)
    bad_folder = inbox / os.fsdecode(b"h\xe4ndler")
    bad_folder.mkdir()
    write_leads(bad_folder / "x.csv", 10, seed=13)
    # 255 bytes; escaping the two bad bytes makes the name too long to rename.
    long_latin1 = os.fsdecode(b"\xff\xfe" + b"M" * 249 + b".csv")
    write_leads(inbox / "generic" / long_latin1, 5, seed=17)

    summary = run_share(home, "generic")

    assert summary["rows_in"] == 55
    names = sorted(f["file"] for f in summary["files"])
    assert names[1:] == ["caf%E9.csv", long_name]
    assert names[0].startswith("%FF%FEMMM")
    assert names[0].endswith("~.csv")
    assert [f["file"] for f in summary["rejected_files"]] == ["x.csv"]
    assert "h%E4ndler" in summary["rejected_files"][0]["reason"]
    archived = [path.name for path in (home / "processed").rglob("*.csv")]
    assert len(archived) == 3
    assert all(len(os.fsencode(name)) <= 244 for name in archived)
    reasons = list((home / "quarantine").rglob("*.reason.txt"))
    assert len(reasons) == 1
    assert reasons[0].parent.name == "h%E4ndler"
    assert not list(inbox.rglob("*.csv"))

    later = run_share(home, "generic")
    assert later["rows_in"] == 0


def _append_row(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    extra = ["" for _ in header]
    extra[header.index("external_id")] = "LATE-1"
    extra[header.index("email")] = "late.arrival@example.org"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(",".join(extra) + "\n")


def test_opt_out_by_source_id_withdraws_and_sticks(home, shared_dir, tmp_path):
    import pandas as pd

    # X Education rows have no e-mail or phone: the person is known by Prospect ID.
    # Row 78 has no country, so no example partner takes it and it waits. Rows 2
    # to 4 (India) keep the file's country null rate under the gate's limit.
    leads = pd.read_csv(
        shared_dir / "data/xeducation-leads/Leads.csv", dtype=str, keep_default_na=False
    )
    rows = leads.iloc[[77, 1, 2, 3]].copy()
    target, first_opt_out = rows["Prospect ID"].iloc[[0, 3]]
    assert rows["Country"].iloc[0] == ""
    assert rows["Do Not Email"].iloc[0] == "No"
    no_email = rows.columns.get_loc("Do Not Email")
    # The fourth person opts out the first time we see them.
    rows.iloc[3, no_email] = "Yes"
    rows.to_csv(tmp_path / "first.csv", index=False)
    opted = rows.copy()
    opted.iloc[0, no_email] = "Yes"
    opted.to_csv(tmp_path / "opt_out.csv", index=False)
    again = rows.copy()
    again.iloc[[0, 3], no_email] = "No"
    again.to_csv(tmp_path / "again.csv", index=False)

    outcome_of_target = (
        "select o.outcome, o.rule from row_outcomes as o inner join source_files as f "
        "using (file_id) where f.file_name = '{}' and o.source_row = {}"
    )
    run_share(home, "xeducation", tmp_path / "first.csv")
    waiting = db_rows(home, outcome_of_target.format("first.csv", 1))
    run_share(home, "xeducation", tmp_path / "opt_out.csv")
    run_share(home, "xeducation", tmp_path / "again.csv")

    assert waiting[0][0] == "no_eligible_partner"
    # The opt-out withdraws the waiting lead, linked by source and Prospect ID.
    assert db_rows(home, outcome_of_target.format("first.csv", 1)) == [
        ("suppressed", "opted_out_before_delivery")
    ]
    assert db_rows(home, outcome_of_target.format("opt_out.csv", 1)) == [
        ("suppressed", "opted_out")
    ]
    # Later rows without the opt-out never turn sharing back on: the first person
    # repeats the withdrawn lead, the fourth is on the suppression list by id.
    assert db_rows(home, outcome_of_target.format("again.csv", 1))[0][0] in (
        "duplicate",
        "suppressed",
    )
    assert db_rows(home, outcome_of_target.format("again.csv", 4)) == [
        ("suppressed", "suppression_list")
    ]
    assert sorted(db_rows(home, "select kind, key from suppression")) == sorted(
        [
            ("external_id", f"ext:xeducation:{first_opt_out}"),
            ("external_id", f"ext:xeducation:{target}"),
        ]
    )
    sent_to_them = db_rows(
        home,
        "select count(*) from transfers as t inner join leads as l using (lead_id) "
        f"where l.external_id in ('{target}', '{first_opt_out}')",
    )
    assert sent_to_them == [(0,)]


def test_do_not_call_phone_never_leaves(home, tmp_path):
    import csv

    def write_partner(countries):
        partner = {
            "id": "P-CALL",
            "name": "Call Centre",
            "territory": {"countries": countries},
            "capacity_per_day": 10,
            "capacity_per_week": 50,
            "channel": "file_drop",
            "timezone": "UTC",
            "fields": ["lead_id", "external_id", "phone", "phone_e164", "notes"],
        }
        (home / "config" / "partners.yaml").write_text(
            yaml.safe_dump({"partners": [partner]})
        )

    def write_file(name, rows):
        header = (
            "external_id,email,first_name,company,country,phone,lead_source,"
            "engagement,consent_share,consent_source,consent_at,do_not_email,"
            "do_not_call,notes\n"
        )
        body = "".join(
            f"{ext},{email},N,{ext}Co,{country},{phone},referral,50,yes,form,"
            f"2026-11-01T10:00:00Z,no,{dnc},mobile {phone} after 6pm\n"
            for ext, email, country, phone, dnc in rows
        )
        (tmp_path / name).write_text(header + body, encoding="utf-8")
        return tmp_path / name

    def sent_rows():
        sent = {}
        for drop in (home / "outbox" / "file_drop" / "P-CALL").glob("*.csv"):
            with drop.open(encoding="utf-8") as handle:
                sent.update({row["external_id"]: row for row in csv.DictReader(handle)})
        return sent

    write_partner(["DE"])
    first = write_file(
        "calls.csv",
        [
            ("D1", "dora@dnc.example", "DE", "+49 30 12345678", "yes"),
            ("D2", "otto@ok.example", "DE", "+49 30 87654321", "no"),
            # The same person twice in one file. The repeat sets do_not_call.
            ("D4", "ida@twice.example", "DE", "+49 30 11112222", "no"),
            ("D4b", "ida@twice.example", "DE", "+49 30 11112222", "yes"),
            # No partner takes FR yet, so this lead waits.
            ("D3", "fred@later.example", "FR", "+33 1 23 45 67 89", "no"),
        ],
    )
    summary = run_share(home, "generic", first)
    # A later row of the waiting person sets do_not_call, and a partner now takes FR.
    write_partner(["DE", "FR"])
    later = write_file(
        "later.csv", [("D3", "fred@later.example", "FR", "+33 1 23 45 67 89", "yes")]
    )
    again = run_share(home, "generic", later)

    assert summary["outcomes"]["shared"] == 3
    assert again["backlog_placed"] == 1
    assert (again["backlog_held"], again["backlog_disqualified"]) == (0, 0)
    sent = sent_rows()
    assert sent["D1"]["phone"] == ""
    assert sent["D1"]["phone_e164"] == ""
    assert sent["D2"]["phone_e164"] == "+493087654321"
    assert sent["D4"]["phone_e164"] == ""
    assert sent["D3"]["phone"] == ""
    assert sent["D3"]["phone_e164"] == ""
    for external_id in ("D1", "D3", "D4"):
        assert sent[external_id]["notes"] == "mobile [phone removed] after 6pm"
    assert sent["D2"]["notes"] == "mobile +49 30 87654321 after 6pm"
    # The store keeps the numbers (dedup and opt-outs use them) with the flag.
    assert db_rows(home, "select external_id, do_not_call from leads order by 1") == [
        ("D1", True),
        ("D2", False),
        ("D3", True),
        ("D4", True),
    ]


def test_partner_gets_tidy_text_values(home, tmp_path, monkeypatch):
    """Padded cells, a two-line company and a 001- phone reach a partner cleaned."""
    import json

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    header = (
        "external_id,email,first_name,last_name,company,city,country,phone,"
        "lead_source,engagement,consent_share,consent_source,consent_at,"
        "do_not_email,do_not_call,notes\n"
    )
    row = (
        'T1," Hanni.Junck@Hotmail.De "," Hanni ","Junck\t","Beispiel Z\nGmbH",'
        '"  Casper ",US,001-307-937-7505,referral,50,yes,form,'
        '2026-11-01T10:00:00Z,no,no,"First line\nsecond line "\n'
    )
    leads = tmp_path / "tidy.csv"
    leads.write_text(header + row, encoding="utf-8")
    fields = [
        "lead_id",
        "email",
        "first_name",
        "last_name",
        "company",
        "city",
        "phone_e164",
        "notes",
    ]
    with LocalEndpoint(secret=SECRET) as endpoint:
        partner = {
            "id": "P-HOOK",
            "name": "Hook Inc",
            "territory": {"countries": ["US"]},
            "capacity_per_day": 10,
            "capacity_per_week": 50,
            "channel": "webhook",
            "webhook": {"url": endpoint.url, "secret": "env:TEST_PARTNER_SECRET"},
            "timezone": "UTC",
            "fields": fields,
        }
        (home / "config" / "partners.yaml").write_text(
            yaml.safe_dump({"partners": [partner]})
        )
        summary = run_share(home, "generic", leads)

    assert summary["outcomes"]["shared"] == 1
    (request,) = endpoint.requests
    body = json.loads(request.body)
    assert body["lead"]["email"] == "Hanni.Junck@hotmail.de"
    assert body["lead"]["first_name"] == "Hanni"
    assert body["lead"]["last_name"] == "Junck"
    assert body["lead"]["company"] == "Beispiel Z GmbH"
    assert body["lead"]["city"] == "Casper"
    assert body["lead"]["phone_e164"] == "+13079377505"
    assert body["lead"]["notes"] == "First line\nsecond line"
    assert "a new lead from Beispiel Z GmbH.\n" in body["intro"]
    stored = db_rows(home, "select email, company, city from leads")
    assert stored == [("Hanni.Junck@hotmail.de", "Beispiel Z GmbH", "Casper")]


def test_unreadable_size_waits_for_approval(home, tmp_path):
    import csv

    from leadshare.approvals import pending
    from leadshare.explain import explain_lead
    from leadshare.runtime import build_context

    partner = {
        "id": "P-DE",
        "name": "Germany",
        "territory": {"countries": ["DE"]},
        "capacity_per_day": 10,
        "capacity_per_week": 50,
        "channel": "file_drop",
        "fields": ["lead_id", "external_id", "company_size", "annual_revenue"],
    }
    (home / "config" / "partners.yaml").write_text(
        yaml.safe_dump({"partners": [partner]})
    )
    columns = [
        "external_id",
        "email",
        "company",
        "country",
        "lead_source",
        "engagement",
        "consent_share",
        "company_size",
        "annual_revenue",
    ]
    sizes = [
        ("S1", "12,5 Tsd.", ""),
        ("S2", "12.000", ""),
        ("S3", "250", "2,000,000"),
        ("S4", "250", "75.000"),
    ]
    path = tmp_path / "sizes.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for external_id, size, revenue in sizes:
            email = f"{external_id.lower()}@firm{external_id.lower()}.example"
            writer.writerow(
                [external_id, email, f"{external_id} AG", "DE", "referral", "50"]
                + ["yes", size, revenue]
            )

    summary = run_share(home, "generic", path)

    assert summary["outcomes"]["awaiting_approval"] == 3
    assert summary["outcomes"]["shared"] == 1
    decided = {
        external_id: (outcome, rule, reason, lead_id)
        for external_id, outcome, rule, reason, lead_id in db_rows(
            home,
            "select l.external_id, o.outcome, o.rule, o.reason, o.lead_id "
            "from row_outcomes as o inner join leads as l using (lead_id)",
        )
    }
    size_reason = decided["S1"][2]
    assert decided["S1"][:2] == ("awaiting_approval", "amount_unreadable")
    assert size_reason.startswith("company size '12,5 Tsd.' is not a number")
    assert "`leadshare approvals`" in size_reason
    assert decided["S2"][:3] == (
        "awaiting_approval",
        "strategic_account",
        "company size >= 5000",
    )
    assert decided["S3"][:2] == ("shared", "matched")
    assert decided["S4"][:2] == ("awaiting_approval", "amount_unreadable")
    assert decided["S4"][2].startswith("annual revenue '75.000' is not a number")

    store = build_context().store
    queue = {row["lead_id"]: row for row in pending(store)}
    waiting_id = decided["S1"][3]
    assert queue[waiting_id]["note"] == size_reason
    assert queue[waiting_id]["proposed_partner"] == "P-DE"
    text = "\n".join(explain_lead(store, waiting_id))
    assert (
        f"Outcome: awaiting_approval (rule amount_unreadable): {size_reason}" in text
    )
    assert "Approval: waiting for a human; matching proposed P-DE." in text


@pytest.mark.parametrize("when", ["before_commit", "after_commit"])
def test_appended_rows_not_lost(home, partner, tmp_path, monkeypatch, when):
    from leadshare import pipeline
    from leadshare.generate import write_leads

    source = write_leads(tmp_path / "growing.csv", 40, seed=14)
    inboxed = home / "inbox" / "generic" / "growing.csv"
    original_commit = pipeline.commit_batch

    def commit_while_file_grows(ctx, item, *args):
        if when == "before_commit":
            _append_row(inboxed)
            return original_commit(ctx, item, *args)
        counts = original_commit(ctx, item, *args)
        _append_row(inboxed)
        return counts

    monkeypatch.setattr(pipeline, "commit_batch", commit_while_file_grows)
    first = run_share(home, "generic", source)
    monkeypatch.setattr(pipeline, "commit_batch", original_commit)

    assert inboxed.exists()
    assert first["rows_in"] == (0 if when == "before_commit" else 40)

    second = run_share(home, "generic")

    assert second["rows_in"] == 41
    assert not inboxed.exists()
    per_file = db_rows(
        home, "select count(*) from row_outcomes group by file_id order by 1"
    )
    assert per_file == ([(41,)] if when == "before_commit" else [(40,), (41,)])
    grown = "(select file_id from row_outcomes group by file_id having count(*) = 41)"
    late = db_rows(
        home, f"select count(*) from row_outcomes where file_id = {grown} and source_row = 41"
    )
    assert late == [(1,)]
    if when == "after_commit":
        again = db_rows(
            home,
            f"select count(*) from row_outcomes where file_id = {grown} "
            "and outcome = 'duplicate'",
        )
        assert again[0][0] > 0


def test_unknown_country_quarantined(home, partner, tmp_path):
    import pandas as pd

    from leadshare.generate import write_leads

    rows = pd.read_csv(
        write_leads(tmp_path / "g.csv", 5, seed=15), dtype=str, keep_default_na=False
    )
    rows["country"] = ["Narnia", "Korea", "DE", "DE", "DE"]
    rows.to_csv(tmp_path / "first.csv", index=False)
    fixed = rows.iloc[:1].assign(country="US")
    fixed.to_csv(tmp_path / "fixed.csv", index=False)

    first = run_share(home, "generic", tmp_path / "first.csv")
    reasons = dict(
        db_rows(
            home,
            "select source_row, reason from row_outcomes where rule = 'country_invalid'",
        )
    )
    second = run_share(home, "generic", tmp_path / "fixed.csv")

    assert first["outcomes"]["quarantined"] >= 2
    assert "'Narnia'" in reasons[1]
    assert "ambiguous: Korea" in reasons[2]
    assert second["rows_in"] == 1
    assert second["outcomes"]["duplicate"] == 0
    assert second["outcomes"]["quarantined"] == 0


def test_stray_quotes_reject_file_whole(home, partner, tmp_path):
    import pandas as pd

    from leadshare.generate import write_leads

    rows = pd.read_csv(
        write_leads(tmp_path / "g.csv", 40, seed=21), dtype=str, keep_default_na=False
    )
    rows.loc[1, "last_name"] = "STRAY-ONE"
    rows.loc[30, "job_title"] = "STRAY-TWO"
    text = rows.to_csv(index=False, lineterminator="\n")
    text = text.replace("STRAY-ONE", 'O"Brien').replace("STRAY-TWO", "5'10\" CTO")
    path = tmp_path / "runon.csv"
    path.write_text(text, "utf-8")

    summary = run_share(home, "generic", path)
    reasons = list((home / "quarantine").rglob("*.reason.txt"))

    assert summary["rows_in"] == 0
    assert [f["file"] for f in summary["rejected_files"]] == ["runon.csv"]
    assert db_rows(home, "select count(*) from row_outcomes") == [(0,)]
    assert len(reasons) == 1
    assert "line 3: field 4 (last_name) contains a quote character" in (
        reasons[0].read_text()
    )


def test_status_shows_a_dead_run_as_ended(home, partner):
    from leadshare import cli
    from leadshare.store import open_store

    run_share(home, "generic")
    with duckdb.connect(str(home / "leadshare.duckdb")) as con:
        con.execute(
            "insert into runs (run_id, flow_run_id, status, started_at) "
            "values ('run-died', 'flow-died', 'running', now())"
        )
        con.execute(
            "insert into source_files (file_id, file_name, profile, rows_in, status, "
            "run_id, received_at) values ('f-died', 'died.csv', 'generic', 7, "
            "'committed', 'run-died', now())"
        )

    dead = CliRunner().invoke(cli.app, ["status"])
    with open_store(f"duckdb:///{home / 'leadshare.duckdb'}").exclusive_run("run-live"):
        live = CliRunner().invoke(cli.app, ["status"])

    dead_text, live_text = (" ".join(r.output.split()) for r in (dead, live))
    assert dead.exit_code == 0
    assert live.exit_code == 0
    assert f"{cli.ENDED_UNFINISHED}, 1 file, 7 rows" in dead_text
    assert "running" not in dead_text
    assert ", running, 1 file, 7 rows" in live_text


def test_status_as_json(home, partner):
    from leadshare import cli

    summary = run_share(home, "generic")
    with duckdb.connect(str(home / "leadshare.duckdb")) as con:
        con.execute(
            "insert into runs (run_id, flow_run_id, status, started_at) "
            "values ('run-died', 'flow-died', 'running', now())"
        )

    result = CliRunner().invoke(cli.app, ["status", "--json"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    died, done = document["runs"]
    assert died["status"] == "ended_unfinished"
    assert died["summary"] is None
    assert done["status"] == "completed"
    assert done["summary"]["outcomes"] == summary["outcomes"]
    assert done["outcomes_now"] == {
        name: count for name, count in summary["outcomes"].items() if count
    }
    assert done["rows_in"] == summary["rows_in"]
    assert done["started_at"] < done["finished_at"]
    assert document["endpoints"] == []
    assert document["config_error"] is None


def test_optouts_file_suppresses_later_rows(home, partner, tmp_path):
    optouts = tmp_path / "unsubscribes.csv"
    optouts.write_text(
        "Email Address,unsubscribed\nu1@unsub.example,2026-11-20\n"
        "U2@Unsub.example,\n",
        encoding="utf-8",
    )
    header = (
        "email,first_name,last_name,company,country,consent_share,lead_source,"
        "engagement,last_activity_at\n"
    )
    later = tmp_path / "later.csv"
    later.write_text(
        header
        + "u1@unsub.example,Ulla,Unger,Unco GmbH,DE,yes,referral,50,2026-12-01\n"
        + "u2@unsub.example,Udo,Uhr,Uhrco GmbH,DE,yes,referral,50,2026-12-01\n"
        + "v3@other.example,Vera,Voss,Vossco GmbH,DE,yes,referral,50,2026-12-01\n",
        encoding="utf-8",
    )

    first = run_share(home, "optouts", optouts)
    second = run_share(home, "generic", later)

    assert first["outcomes"]["suppressed"] == 2
    assert db_rows(home, "select key from suppression order by key") == [
        ("u1@unsub.example",),
        ("u2@unsub.example",),
    ]
    rules = db_rows(
        home,
        "select o.source_row, o.rule from row_outcomes as o join source_files as f "
        "using (file_id) where f.file_name = 'later.csv' order by o.source_row",
    )
    assert rules[:2] == [(1, "suppression_list"), (2, "suppression_list")]
    assert rules[2][1] != "suppression_list"
    assert second["rows_in"] == 3


def test_explain_names_opt_out_after_sharing(home, partner, tmp_path):
    from leadshare.explain import explain_lead
    from leadshare.reporting import slack_summary
    from leadshare.generate import write_leads
    from leadshare.runtime import build_context

    run_share(home, "generic", write_leads(tmp_path / "leads.csv", 200, seed=5))
    lead_id, email, partner_id = db_rows(
        home,
        "select l.lead_id, l.email, t.partner_id from leads as l join transfers as t "
        "using (lead_id) where t.status = 'sent' and l.email_key is not null "
        "order by l.lead_id limit 1",
    )[0]
    optouts = tmp_path / "unsubscribes.csv"
    optouts.write_text(f"email\n{email}\n", encoding="utf-8")
    summary = run_share(home, "optouts", optouts)
    quiet = run_share(home, "generic")

    text = " ".join(explain_lead(build_context().store, lead_id))

    assert "The person opted out later: the e-mail of this lead went on" in text
    assert f"{partner_id} received it before that" in text
    assert summary["opted_out_after_delivery"] == {partner_id: [lead_id]}
    expected = "1 lead whose person opted out in this run had reached partners before "
    assert expected + f"({partner_id} 1)" in slack_summary(summary)
    assert quiet["opted_out_after_delivery"] == {}


def test_crashed_empty_run_not_taken_over(home, partner, tmp_path):
    from leadshare.generate import write_leads

    run_share(home, "generic")
    with duckdb.connect(str(home / "leadshare.duckdb")) as con:
        con.execute(
            "insert into runs (run_id, flow_run_id, status, started_at) "
            "values ('run-died', 'flow-died', 'running', now())"
        )

    summary = run_share(home, "generic", write_leads(tmp_path / "a.csv", 20, seed=16))

    assert summary["rows_in"] == 20
    assert summary["taken_over_runs"] == []
    assert db_rows(home, "select status, summary from runs where run_id = 'run-died'") == [
        ("crashed", None)
    ]


REIMPORT_HEADER = (
    "email,first_name,last_name,company,country,phone,consent_share,lead_source,"
    "do_not_email\n"
)


def _outcome_rows(home: Path, file_name: str) -> dict[int, tuple]:
    rows = db_rows(
        home,
        "select o.source_row, o.outcome, o.rule, o.reason, o.lead_id "
        "from row_outcomes as o join source_files as f using (file_id) "
        f"where f.file_name = '{file_name}'",
    )
    return {row[0]: row[1:] for row in rows}


def _counted(outcomes: dict[str, int]) -> dict[str, int]:
    return {outcome: n for outcome, n in outcomes.items() if n}


def _own_lead(home: Path, file_name: str, source_row: int) -> str:
    return db_rows(
        home,
        "select l.lead_id from leads as l join source_files as f using (file_id) "
        f"where f.file_name = '{file_name}' and l.source_row = {source_row}",
    )[0][0]


def write_reimport_files(folder: Path) -> tuple[Path, Path]:
    """Write first.csv, three leads no partner covers, and second.csv, which
    corrects one of them twice, exports one unchanged and opts the third out."""
    first = folder / "first.csv"
    first.write_text(
        REIMPORT_HEADER
        + "ann@corp-a.example,Ann,Lee,Corp A,DE,(202) 555-0101,yes,referral,\n"
        + "bob@corp-b.example,Bob,Ray,Corp B,DE,(202) 555-0102,yes,referral,\n"
        + "cy@corp-c.example,Cy,Fox,Corp C,DE,(202) 555-0103,yes,referral,\n",
        encoding="utf-8",
    )
    second = folder / "second.csv"
    second.write_text(
        REIMPORT_HEADER
        + "ann@corp-a.example,Ann,Lee,Corp A,US,(202) 555-0101,yes,referral,\n"
        + "bob@corp-b.example,Bob,Ray,Corp B,DE,(202) 555-0102,yes,referral,\n"
        + "ann@corp-a.example,Ann,Lee,Corp A,US,(202) 555-0101,yes,referral,\n"
        + "cy@corp-c.example,Cy,Fox,Corp C,DE,(202) 555-0103,yes,referral,yes\n",
        encoding="utf-8",
    )
    return first, second


def test_corrected_reimport_replaces_waiting_lead(home, partner, tmp_path):
    from leadshare.explain import explain_lead
    from leadshare.runtime import build_context

    first, second = write_reimport_files(tmp_path)

    before = run_share(home, "generic", first)
    old_ann = _own_lead(home, "first.csv", 1)
    old_bob = _own_lead(home, "first.csv", 2)
    old_cy = _own_lead(home, "first.csv", 3)
    after = run_share(home, "generic", second)
    new_ann = _own_lead(home, "second.csv", 1)
    earlier = _outcome_rows(home, "first.csv")
    later = _outcome_rows(home, "second.csv")

    assert _counted(before["outcomes"]) == {"no_eligible_partner": 3}
    assert after["rows_in"] == 4
    assert _counted(after["outcomes"]) == {"shared": 1, "duplicate": 2, "suppressed": 1}
    assert db_rows(
        home,
        "select count(*), count(distinct (file_id, source_row)) from row_outcomes",
    ) == [(7, 7)]
    # The corrected row is shared in the same run; the held lead leaves the backlog.
    assert later[1][0] == "shared"
    assert earlier[1][0] == "duplicate"
    assert earlier[1][1] == "replaced_by_reimport"
    assert earlier[1][2] == (
        f"replaced by {new_ann} from second.csv row 1 (changed: phone, country)"
    )
    assert earlier[1][3] == new_ann
    assert later[3][0] == "duplicate"
    assert later[3][3] == new_ann
    transfers = db_rows(
        home, f"select count(*) from transfers where lead_id = '{new_ann}'"
    )
    assert transfers == [(1,)]
    # The unchanged export stays a duplicate, and Bob still waits.
    assert later[2][0] == "duplicate"
    assert later[2][3] == old_bob
    assert earlier[2][0] == "no_eligible_partner"
    # The opt-out is suppressed, names Cy's held lead and withdraws it.
    assert later[4][0] == "suppressed"
    assert later[4][1] == "opted_out"
    assert f"withdraws held lead {old_cy}" in later[4][2]
    assert earlier[3][0] == "suppressed"
    text = "\n".join(explain_lead(build_context().store, old_ann))
    assert f"Lead {old_ann} comes from row 1 of first.csv" in text
    assert f"replaced by {new_ann} from second.csv row 1" in text
    assert f"leadshare explain {new_ann}" in text
    text = "\n".join(explain_lead(build_context().store, new_ann))
    assert f"was held lead {old_ann}, which this lead replaced" in text


def test_shared_lead_reimport_stays_duplicate(home, partner, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(
        REIMPORT_HEADER
        + "ann@corp-a.example,Ann,Lee,Corp A,US,(202) 555-0101,yes,referral,\n",
        encoding="utf-8",
    )
    # The same person with a corrected company name, after she was shared.
    second = tmp_path / "second.csv"
    second.write_text(
        REIMPORT_HEADER
        + "ann@corp-a.example,Ann,Lee,Corp Alpha,US,(202) 555-0101,yes,referral,\n",
        encoding="utf-8",
    )

    before = run_share(home, "generic", first)
    ann = _own_lead(home, "first.csv", 1)
    posts = len(partner.requests)
    after = run_share(home, "generic", second)

    assert _counted(before["outcomes"]) == {"shared": 1}
    assert _counted(after["outcomes"]) == {"duplicate": 1}
    assert _outcome_rows(home, "second.csv")[1][3] == ann
    assert _outcome_rows(home, "first.csv")[1][0] == "shared"
    assert db_rows(home, "select count(*) from leads") == [(1,)]
    assert db_rows(home, "select count(*) from transfers") == [(1,)]
    assert len(partner.requests) == posts
    assert partner.duplicates == 0


_OPT_OUT_HEADER = (
    "external_id,email,first_name,last_name,company,phone,country,last_activity_at,"
    "consent_share,consent_source,consent_at,do_not_email,status"
)


def _opt_out_files(folder: Path) -> tuple[Path, Path]:
    """Write five held leads and a later file in which all five opt out."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    active = (now - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    consent = (now - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    leads = [_OPT_OUT_HEADER]
    for n in range(5):
        leads.append(
            f"Q-{n},person{n}@acme{n}.com,Anna{n},Lee{n},Acme{n} Inc,"
            f"+1212555010{n},US,{active},yes,web_form,{consent},no,new"
        )
    tail = f"US,{active},yes,web_form,{consent}"
    opt_outs = [
        _OPT_OUT_HEADER,
        # e-mail in display-name form, opted out by do_not_email
        f"Q-0,Anna0 Lee0 <person0@acme0.com>,Anna0,Lee0,Acme0 Inc,,{tail},yes,new",
        # e-mail as a mailto: link, opted out by status
        f"Q-1,mailto:person1@acme1.com,Anna1,Lee1,Acme1 Inc,,{tail},no,unsubscribed",
        # an unquoted comma in the company: one field too many, do_not_email yes
        f"Q-2,person2@acme2.com,Anna2,Lee2,Acme2, Inc,,{tail},yes,new",
        # the same fault, opted out by status
        f"Q-3,person3@acme3.com,Anna3,Lee3,Acme3, Inc,,{tail},no,unsubscribed",
        # an e-mail that cannot be recovered: linked by the external id only
        f"Q-4,person4 at acme4,Anna4,Lee4,Acme4 Inc,,{tail},yes,new",
    ]
    first, second = folder / "held.csv", folder / "opt_outs.csv"
    first.write_text("\n".join(leads) + "\n", encoding="utf-8")
    second.write_text("\n".join(opt_outs) + "\n", encoding="utf-8")
    return first, second


@pytest.mark.parametrize("reordered", [False, True])
def test_repeated_header_row_suppresses_nobody(home, tmp_path, reordered):
    # Two generic exports joined: the second header is quarantined as a row, and
    # its cells (do_not_email, status, unsubscribed_at, external_id) are names,
    # not an opt-out. The second export may order its columns differently.
    names = [
        "external_id", "email", "first_name", "last_name", "company", "country",
        "consent_share", "do_not_email", "status", "unsubscribed_at",
    ]
    header = ",".join(names)
    second = ",".join(names[-1:] + names[:-1]) if reordered else header
    lead = "R-{0},p{0}@acme{0}.com,Ann{0},Lee{0},Acme{0} GmbH,DE,yes,no,new,"
    lines = [header, lead.format(1), second, lead.format(2)]
    joined = tmp_path / "joined.csv"
    joined.write_text("\n".join(lines) + "\n")

    summary = run_share(home, "generic", joined, deliver=False)

    assert summary["rows_in"] == 3
    assert summary["outcomes"]["quarantined"] == 1
    assert summary["outcomes"]["suppressed"] == 0
    assert db_rows(home, "select count(*) from suppression") == [(0,)]
    reasons = db_rows(
        home, "select reason from row_outcomes where outcome = 'quarantined'"
    )
    assert reasons == [
        (
            "line 3: repeated header row. It contains the column names of line 1 "
            "again (in any order), as when two exports are joined, and is not a "
            "lead",
        )
    ]


def test_quarantined_opt_outs_withdraw_held_leads(home, tmp_path):
    # The only partner's secret cannot be read, so its transfers wait.
    write_partners(home, "http://127.0.0.1:9/unused")
    config = home / "config" / "partners.yaml"
    data = yaml.safe_load(config.read_text())
    data["partners"] = data["partners"][:1]
    data["partners"][0]["webhook"]["secret"] = "block:no-such-partner-secret"
    config.write_text(yaml.safe_dump(data))
    held, opt_outs = _opt_out_files(tmp_path)

    first = run_share(home, "generic", held)
    pending_before = db_rows(
        home, "select count(*) from transfers where status = 'pending'"
    )
    second = run_share(home, "generic", opt_outs)

    assert _counted(first["outcomes"]) == {"shared": 5}
    assert pending_before == [(5,)]
    assert db_rows(home, "select status, count(*) from transfers group by 1") == [
        ("withdrawn", 5)
    ]
    keys = {key for (key,) in db_rows(home, "select key from suppression")}
    assert {f"person{n}@acme{n}.com" for n in range(4)} <= keys
    assert "ext:generic:Q-4" in keys
    # status shows the first run's counts and, below them, what its rows are now.
    from leadshare import cli

    status_output = CliRunner().invoke(cli.app, ["status"])
    lines = " ".join(status_output.output.split())
    assert f"{first['run_id']} started" in lines
    assert "shared 5 now: suppressed 5 (changed after the run" in lines
    outcomes = _outcome_rows(home, "opt_outs.csv")
    assert second["rows_in"] == 5
    assert sum(second["outcomes"].values()) == 5
    assert sorted(outcomes) == [1, 2, 3, 4, 5]
    assert outcomes[1][:2] == ("suppressed", "opted_out")
    assert outcomes[2][:2] == ("suppressed", "opted_out")
    for row, rule in ((3, "malformed_row"), (4, "malformed_row"), (5, "email_syntax")):
        assert outcomes[row][:2] == ("quarantined", rule)
        assert "also opts out, and that was applied" in outcomes[row][2]


@pytest.fixture
def run_logs():
    """Collect the records of leadshare's and Prefect's loggers, from DEBUG up.

    caplog misses records from inside flow runs depending on the order of tests.
    """
    records = _RecordList()
    loggers = [logging.getLogger("leadshare"), logging.getLogger("prefect")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
    yield records.records
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(records)
        logger.setLevel(level)


def _messages(records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records]


def _jsonl_lead(number: int, first_name: str) -> str:
    return (
        f'{{"email":"jl{number}@acme{number}.com","first_name":"{first_name}",'
        f'"last_name":"Doe","consent_share":"yes","company":"Jl{number} Co",'
        f'"country":"US","lead_source":"referral","phone":"+1312555{number:04d}"}}'
    )


def test_unstorable_jsonl_lines_quarantined(home, partner, tmp_path, run_logs):
    from leadshare.generate import write_leads

    lines = [
        _jsonl_lead(1, "Zq\\ud800xv"),
        _jsonl_lead(2, "Zq\\u0000xv"),
        '{"email":"jl3@acme3.com","notes":' + "[" * 100_000 + "}",
        _jsonl_lead(4, "Mary"),
    ]
    bad = tmp_path / "lines.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    good = write_leads(tmp_path / "good.csv", 30, seed=31)

    summary = run_share(home, "generic", bad, good)

    assert summary["rows_in"] == 34
    assert summary["rejected_files"] == []
    outcomes = _outcome_rows(home, "lines.jsonl")
    assert [outcomes[row][0] for row in (1, 2, 3)] == ["quarantined"] * 3
    assert outcomes[4][0] != "quarantined"
    assert "control character U+0000" in outcomes[2][2]
    logged = "\n".join(_messages(run_logs))
    assert "read lines.jsonl: 4 rows" in logged
    assert "Zq" not in logged
    assert not list((home / "inbox").rglob("*.*"))
    for path in (home / "outbox").rglob("*.csv"):
        assert b"\x00" not in path.read_bytes()


def test_unexpected_read_error_rejects_file(
    home, partner, tmp_path, monkeypatch, run_logs
):
    from leadshare import intake
    from leadshare.generate import write_leads

    original_apply = intake.apply_profile

    def apply_or_fail(raw, *args, **kwargs):
        if raw.path.name == "boom.csv":
            raise UnicodeEncodeError("utf-8", "zq.secret@x.io", 0, 1, "test")
        return original_apply(raw, *args, **kwargs)

    monkeypatch.setattr(intake, "apply_profile", apply_or_fail)
    boom = write_leads(tmp_path / "boom.csv", 10, seed=32)
    good = write_leads(tmp_path / "zgood.csv", 20, seed=33)

    summary = run_share(home, "generic", boom, good)

    assert summary["rows_in"] == 20
    assert [f["file"] for f in summary["rejected_files"]] == ["boom.csv"]
    reason = summary["rejected_files"][0]["reason"]
    assert "unexpected UnicodeEncodeError" in reason
    assert "zq.secret" not in reason
    logged = "\n".join(_messages(run_logs))
    assert "zq.secret" not in logged
    assert "Reading boom.csv failed with UnicodeEncodeError" in logged
    reasons = list((home / "quarantine").rglob("*boom.csv.reason.txt"))
    assert len(reasons) == 1
    assert not list((home / "inbox").rglob("*.csv"))


def test_recent_file_left_for_next_run(
    home, partner, tmp_path, monkeypatch, run_logs
):
    from flows.share import share_leads
    from leadshare.generate import write_leads

    monkeypatch.setenv("LEADSHARE_INBOX_SETTLE_S", "60")
    inboxed = write_leads(home / "inbox" / "generic" / "live.csv", 40, seed=34)

    first = share_leads_once()

    assert first["rows_in"] == 0
    assert inboxed.exists()
    left = [m for m in _messages(run_logs) if m.startswith("Left live.csv")]
    assert len(left) == 1
    assert "in the inbox for the next run" in left[0]

    ready = share_leads.with_options(retries=0)(ready_files=[str(inboxed)])

    assert ready["rows_in"] == 40
    assert not inboxed.exists()

    later = write_leads(home / "inbox" / "generic" / "later.csv", 10, seed=35)
    old = later.stat().st_mtime - 120
    os.utime(later, (old, old))

    settled = share_leads_once()

    assert settled["rows_in"] == 10
    assert not later.exists()


def test_archived_file_changed_is_reported(
    home, partner, tmp_path, monkeypatch, run_logs
):
    from leadshare import pipeline
    from leadshare.generate import write_leads

    original_archive = pipeline.archive_file

    def append_then_archive(ctx, item, status):
        _append_row(item.path)
        return original_archive(ctx, item, status)

    monkeypatch.setattr(pipeline, "archive_file", append_then_archive)

    source = write_leads(tmp_path / "grow.csv", 30, seed=36)
    summary = run_share(home, "generic", source)

    assert summary["rows_in"] == 30
    messages = _messages(run_logs)
    warnings = [message for message in messages if "Archived grow.csv" in message]
    assert len(warnings) == 1
    assert "no longer has the content that was committed" in warnings[0]


def test_inbox_links_and_odd_entries(home, partner, tmp_path, run_logs):
    from leadshare.generate import write_leads

    target = write_leads(tmp_path / "outside.csv", 20, seed=37)
    before = target.read_bytes()
    folder = home / "inbox" / "generic"
    folder.mkdir(parents=True)
    (folder / "01_link.csv").symlink_to(target)
    (folder / "02_dangling.csv").symlink_to(tmp_path / "missing.csv")
    (folder / "03_dir_link").symlink_to(tmp_path, target_is_directory=True)
    (folder / "04_dir.csv").mkdir()
    os.mkfifo(folder / "05_pipe.csv")

    summary = run_share(home, "generic")

    assert summary["rows_in"] == 0
    rejected = sorted(f["file"] for f in summary["rejected_files"])
    assert rejected == ["01_link.csv", "02_dangling.csv"]
    for entry in summary["rejected_files"]:
        assert "symbolic link" in entry["reason"]
        assert "Copy the file into the inbox" in entry["reason"]
    quarantined = sorted((home / "quarantine" / "generic").iterdir())
    links = [path for path in quarantined if path.is_symlink()]
    assert len(links) == 2
    moved = sorted(entry["quarantined_as"] for entry in summary["rejected_files"])
    assert moved == [str(path) for path in links]
    assert len(list((home / "quarantine").rglob("*.reason.txt"))) == 2
    assert target.read_bytes() == before
    assert not (folder / "01_link.csv").is_symlink()
    assert not (folder / "02_dangling.csv").is_symlink()
    messages = _messages(run_logs)
    for name in ("generic/03_dir_link", "generic/04_dir.csv", "generic/05_pipe.csv"):
        lines = [m for m in messages if m.startswith(f"Skipped inbox entry {name}:")]
        assert len(lines) == 1, name


def test_archive_written_later_is_reported(home, partner, tmp_path, run_logs):
    from leadshare.generate import write_leads

    source = write_leads(tmp_path / "slow.csv", 30, seed=38)
    first = run_share(home, "generic", source)
    archived = next((home / "processed" / "generic").glob("*-slow.csv"))
    _append_row(archived)

    second = share_leads_once()
    third = share_leads_once()

    assert first["rows_in"] == 30
    assert second["rows_in"] == 0
    assert third["rows_in"] == 0
    messages = _messages(run_logs)
    warnings = [m for m in messages if m.startswith("Archived file ")]
    assert len(warnings) == 1
    assert archived.name in warnings[0]
    assert "changed after a run read it" in warnings[0]


def test_status_shows_held_endpoints(home, partner):
    from leadshare import cli

    run_share(home, "generic")
    with duckdb.connect(str(home / "leadshare.duckdb")) as con:
        con.execute(
            "insert into endpoint_state (partner_id, disabled_at, reason) "
            "values ('P-GONE', now(), 'HTTP 410 Gone')"
        )
        con.execute(
            "insert into endpoint_backoff (partner_id, next_attempt_at, reason) values "
            "('P-SLOW', now() + interval 10 minute, 'HTTP 429, Retry-After 600 s'), "
            "('P-OVER', now() - interval 1 minute, 'HTTP 429')"
        )

    result = CliRunner().invoke(cli.app, ["status"])
    text = " ".join(result.output.split())

    assert result.exit_code == 0
    assert "Partner endpoints holding transfers back" in text
    assert "P-GONE: disabled since" in text
    assert "'leadshare endpoint enable P-GONE'" in text
    assert "P-SLOW: backing off until" in text
    assert "(HTTP 429, Retry-After 600 s); 0 transfers wait until then" in text
    assert "P-OVER" not in text


def test_status_quiet_without_endpoint_trouble(home, partner):
    from leadshare import cli

    run_share(home, "generic")

    result = CliRunner().invoke(cli.app, ["status"])

    assert result.exit_code == 0
    assert "Partner endpoints" not in result.output


ROTATED_SECRET = "whsec_cm90YXRlZC1vbi1vbmUtc2lkZS1vbmx5LXNlY3JldA=="


def test_auth_failure_held_then_released(home, tmp_path, monkeypatch):
    from leadshare import cli
    from leadshare.generate import write_leads

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    leads = write_leads(tmp_path / "leads.csv", 300, seed=11)
    # The partner verifies with a secret rotated on its side only.
    with LocalEndpoint(secret=ROTATED_SECRET) as rejecting:
        write_partners(home, rejecting.url)
        first = run_share(home, "generic", leads)
    hook = {row["partner"]: row for row in first["partners"]}["P-HOOK"]
    pending_rows = db_rows(
        home,
        "select transfer_id, lead_id, attempts from transfers "
        "where partner_id = 'P-HOOK' and status = 'pending' order by attempts desc",
    )
    runner = CliRunner()
    status = " ".join(runner.invoke(cli.app, ["status"]).output.split())
    tried_lead, untried_lead = pending_rows[0][1], pending_rows[-1][1]
    tried = " ".join(runner.invoke(cli.app, ["explain", tried_lead]).output.split())
    untried = " ".join(runner.invoke(cli.app, ["explain", untried_lead]).output.split())

    assert hook["offered"] > 1
    assert len(rejecting.requests) == 1
    assert hook["failed"] == 0
    assert hook["waiting"] == hook["offered"]
    # The error makes `share` exit with 1, so a calling script can tell.
    assert "authentication failed" in hook["error"]
    assert "leadshare endpoint enable P-HOOK" in hook["error"]
    assert len(pending_rows) == hook["offered"]
    assert [attempts for _, _, attempts in pending_rows[:2]] == [1, 0]
    assert "P-HOOK: disabled since" in status
    assert f"{len(pending_rows)} transfers waiting" in status
    assert "authentication failed" in status
    assert "env:TEST_PARTNER_SECRET" in status
    assert "'leadshare endpoint enable P-HOOK'" in status
    assert "error of the last send: webhook" in tried
    assert "authentication failed" in tried
    assert "endpoint of P-HOOK is disabled" in untried
    assert "authentication failed" in untried
    assert SECRET.removeprefix("whsec_") not in status + tried + untried

    enabled = runner.invoke(cli.app, ["endpoint", "enable", "P-HOOK"])
    with LocalEndpoint(secret=SECRET) as accepting:
        write_partners(home, accepting.url)
        second = share_leads_once()

    assert enabled.exit_code == 0
    assert "Endpoint of P-HOOK enabled." in enabled.output
    hook = {row["partner"]: row for row in second["partners"]}["P-HOOK"]
    assert hook["sent"] == len(pending_rows)
    assert sorted(accepting.accepted_ids) == sorted(row[0] for row in pending_rows)
    assert accepting.duplicates == 0


def _partners_sharing_us_leads(home: Path, hook_url: str) -> None:
    """Write partners among which the generated US leads reach P-DROP and P-INCRM.

    P-HOOK takes one lead a day, so the rest go to the two file partners.
    """
    write_partners(home, hook_url, hook_capacity=1)
    config = home / "config" / "partners.yaml"
    data = yaml.safe_load(config.read_text())
    for entry in data["partners"]:
        if entry["id"] == "P-INCRM":
            entry["territory"]["countries"] = ["US", "IN"]
    config.write_text(yaml.safe_dump(data))


def _run_logs(flow_run_id: str) -> list[tuple[int, str]]:
    """Return the level and message of every log line Prefect keeps for a flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [(log.level, log.message) for log in logs]


@contextmanager
def _task_run_messages() -> Iterator[list[str]]:
    """Collect the messages of Prefect's task-run log lines, INFO and above."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("prefect.task_runs")
    handler = Collect(level=logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_retried_transfer_task_logs_result(home, tmp_path, monkeypatch):
    from leadshare.generate import write_leads
    from tasks import transfer

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    real_deliver = transfer.deliver_partner
    calls: list[str] = []

    def deliver_then_fail(store, settings, partner, now, **options):
        # P-DROP's first attempt writes its files, then its task raises.
        summary = real_deliver(store, settings, partner, now, **options)
        calls.append(partner.id)
        if partner.id == "P-DROP" and calls.count("P-DROP") == 1:
            raise OSError("store locked on purpose")
        return summary

    monkeypatch.setattr(transfer, "deliver_partner", deliver_then_fail)
    leads = write_leads(tmp_path / "leads.csv", 300, seed=11)
    with (
        LocalEndpoint(secret=SECRET) as endpoint,
        _task_run_messages() as messages,
    ):
        _partners_sharing_us_leads(home, endpoint.url)
        summary = run_share(home, "generic", leads)
    drop = {row["partner"]: row for row in summary["partners"]}["P-DROP"]
    printed = "\n".join(messages)

    assert calls.count("P-DROP") == 2
    assert drop["sent"] == drop["offered"] > 0
    assert "Nothing left to transfer to partner P-DROP after attempt 1" in printed
    assert "Nothing left to transfer to partner P-INCRM" not in printed


def test_run_problems_reach_prefect_log(home, tmp_path, monkeypatch):
    from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings

    from leadshare.generate import write_leads

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    drop = home / "outbox" / "file_drop" / "P-DROP"
    drop.parent.mkdir(parents=True)
    drop.write_text("not a folder", encoding="utf-8")
    stray = home / "inbox" / "nosuchprofile" / "stray.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text("email\na@example.com\n", encoding="utf-8")
    leads = write_leads(tmp_path / "leads.csv", 300, seed=11)
    # The suite keeps logs out of the API for speed, so this test turns them on.
    with (
        temporary_settings({PREFECT_LOGGING_TO_API_ENABLED: True}),
        LocalEndpoint(secret=SECRET) as endpoint,
    ):
        _partners_sharing_us_leads(home, endpoint.url)
        summary = run_share(home, "generic", leads)
        logs = _run_logs(summary["run_id"])
    warnings = [text for level, text in logs if level == logging.WARNING]
    errors = [text for level, text in logs if level == logging.ERROR]

    assert any(text.startswith("Rejected stray.csv: ") for text in warnings)
    assert len(errors) == 2
    assert errors[0].startswith("Partner P-DROP: 1 transfer waits for the next run")
    assert errors[1].startswith("Sharing run finished with errors that need a fix")
    assert "deliveries to partner P-DROP wait: " in errors[1]
    assert "1 file was rejected whole and moved to quarantine/" in errors[1]
    assert "@" not in " ".join(text for _, text in logs)


def test_rejected_transfers_listed_in_summary(home, tmp_path, monkeypatch):
    import json

    from flows import share
    from leadshare import cli
    from leadshare.generate import write_leads

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    monkeypatch.setattr(share, "share_leads", share.share_leads.with_options(retries=0))
    leads = write_leads(tmp_path / "leads.csv", 300, seed=11)
    rejection = Reply(422, body=b'{"error": "industry not accepted"}')
    with LocalEndpoint(script=[rejection], secret=SECRET) as endpoint:
        _partners_sharing_us_leads(home, endpoint.url)
        result = CliRunner().invoke(cli.app, ["share", "--json", str(leads)])
    summary = json.loads(result.stdout)
    hook = {row["partner"]: row for row in summary["partners"]}["P-HOOK"]
    stored = db_rows(home, "select lead_id from transfers where status = 'failed'")

    assert result.exit_code == 0, result.output
    assert hook["failed"] == 1
    assert hook["failed_leads"] == [stored[0][0]]
    assert "HTTP 422" in hook["failed_reason"]
    assert "industry not accepted" in hook["failed_reason"]
    assert {row["partner"]: row for row in summary["partners"]}["P-DROP"][
        "failed_leads"
    ] == []


def test_unwritable_outbox_reported_not_retried(home, tmp_path, monkeypatch):
    import json

    from leadshare import cli
    from leadshare.generate import write_leads
    from tasks import transfer
    from test_filedrop import read_only_folder

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    calls: list[str] = []
    real_deliver = transfer.deliver_partner

    def counting_deliver(store, settings, partner, now, **options):
        calls.append(partner.id)
        return real_deliver(store, settings, partner, now, **options)

    monkeypatch.setattr(transfer, "deliver_partner", counting_deliver)
    drop = home / "outbox" / "file_drop" / "P-DROP"
    drop.parent.mkdir(parents=True)
    drop.write_text("not a folder", encoding="utf-8")
    crm = home / "outbox" / "crm_export" / "P-INCRM"
    leads = write_leads(tmp_path / "leads.csv", 300, seed=11)
    with LocalEndpoint(secret=SECRET) as endpoint, read_only_folder(crm):
        _partners_sharing_us_leads(home, endpoint.url)
        result = CliRunner().invoke(cli.app, ["share", "--json", str(leads)])
    summary = json.loads(result.stdout)
    by_partner = {row["partner"]: row for row in summary["partners"]}
    pending = dict(
        db_rows(
            home,
            "select partner_id, count(*) from transfers where status = 'pending' "
            "group by partner_id",
        )
    )
    errors = " ".join(result.stderr.split())

    assert result.exit_code == 1
    assert sum(summary["outcomes"].values()) == summary["rows_in"] == 300
    assert calls.count("P-DROP") == 1
    assert calls.count("P-INCRM") == 1
    assert by_partner["P-DROP"]["offered"] > 0
    assert by_partner["P-DROP"]["waiting"] == by_partner["P-DROP"]["offered"]
    assert pending["P-DROP"] == by_partner["P-DROP"]["offered"]
    assert f"because {drop} is not a folder" in by_partner["P-DROP"]["error"]
    assert by_partner["P-INCRM"]["offered"] > 0
    assert pending["P-INCRM"] == by_partner["P-INCRM"]["offered"]
    assert f"outbox folder {crm} is not writable" in by_partner["P-INCRM"]["error"]
    assert by_partner["P-HOOK"]["error"] is None
    assert by_partner["P-HOOK"]["sent"] == 1
    assert "error: deliveries to partner P-DROP wait" in errors
    assert "Traceback" not in result.output
    assert db_rows(home, "select status from runs") == [("completed",)]

    drop.unlink()
    with LocalEndpoint(secret=SECRET) as endpoint:
        _partners_sharing_us_leads(home, endpoint.url)
        again = share_leads_once()
    by_partner = {row["partner"]: row for row in again["partners"]}

    assert by_partner["P-DROP"]["sent"] == pending["P-DROP"]
    assert by_partner["P-INCRM"]["sent"] == pending["P-INCRM"]


def test_unwritable_inbox_folder_named(home, partner):
    from test_filedrop import read_only_folder

    from leadshare.generate import write_leads

    inbox = home / "inbox" / "generic"
    inbox.mkdir(parents=True)
    leads = write_leads(inbox / "leads.csv", 40, seed=13)

    with read_only_folder(inbox):
        summary = share_leads_once()

    assert sum(summary["outcomes"].values()) == summary["rows_in"] == 40
    assert len(summary["errors"]) == 1
    assert f"out of inbox folder {inbox}: it is not writable" in summary["errors"][0]
    assert "processed" not in summary["errors"][0]
    assert leads.exists()

    fixed = share_leads_once()

    assert fixed["errors"] == []
    assert fixed["rows_in"] == 0
    assert not leads.exists()
    assert len(list((home / "processed" / "generic").glob("*-leads.csv"))) == 1
    assert db_rows(home, "select count(*) from row_outcomes") == [(40,)]


def test_unwritable_archive_reported_not_retried(home, partner, tmp_path):
    import json

    from leadshare import cli
    from leadshare.generate import write_leads

    processed = home / "processed" / "generic"
    quarantine = home / "quarantine" / "generic"
    for blocker in (processed, quarantine):
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("not a folder", encoding="utf-8")
    leads = write_leads(tmp_path / "leads.csv", 60, seed=12)
    unsupported = home / "inbox" / "Leads.xlsx"
    unsupported.parent.mkdir(parents=True, exist_ok=True)
    unsupported.write_bytes(b"PK\x03\x04 not a csv")

    result = CliRunner().invoke(cli.app, ["share", "--json", str(leads)])
    summary = json.loads(result.stdout)
    errors = " ".join(result.stderr.split())
    committed = home / "inbox" / "generic" / "leads.csv"

    assert result.exit_code == 1
    assert sum(summary["outcomes"].values()) == summary["rows_in"] == 60
    assert len(summary["errors"]) == 2
    assert f"files in {processed}: it is not a folder" in " ".join(summary["errors"])
    assert f"files in {quarantine}: it is not a folder" in " ".join(summary["errors"])
    assert f"error: cannot archive files in {processed}" in errors
    assert "Traceback" not in result.output
    assert committed.exists()
    assert unsupported.exists()
    assert sum(row["sent"] for row in summary["partners"]) > 0
    assert db_rows(home, "select status from runs") == [("completed",)]

    # Until the fix, later runs report the same errors and leave the files.
    again = share_leads_once()

    assert again["rows_in"] == 0
    assert len(again["errors"]) == 2
    assert committed.exists()

    processed.unlink()
    quarantine.unlink()
    fixed = share_leads_once()

    assert fixed["errors"] == []
    assert not committed.exists()
    assert not unsupported.exists()
    assert len(list(processed.glob("*-leads.csv"))) == 1
    assert len(list(quarantine.glob("*-Leads.xlsx.reason.txt"))) == 1
    assert db_rows(home, "select count(*) from row_outcomes") == [(60,)]


def test_raising_delivery_task_json_summary(home, tmp_path, monkeypatch):
    import json

    from flows import share
    from leadshare import cli
    from leadshare.generate import write_leads
    from tasks import transfer

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    real_deliver = transfer.deliver_partner

    def fail_incrm(store, settings, partner, now, **options):
        if partner.id == "P-INCRM":
            raise OSError("CRM export failed on purpose")
        return real_deliver(store, settings, partner, now, **options)

    monkeypatch.setattr(transfer, "deliver_partner", fail_incrm)
    # The CLI runs the flow with its 60 s retry; without it the test stays short.
    monkeypatch.setattr(share, "share_leads", share.share_leads.with_options(retries=0))
    leads = write_leads(tmp_path / "leads.csv", 300, seed=11)
    with LocalEndpoint(secret=SECRET) as endpoint:
        _partners_sharing_us_leads(home, endpoint.url)
        result = CliRunner().invoke(cli.app, ["share", "--json", str(leads)])
    summary = json.loads(result.stdout)
    by_partner = {row["partner"]: row for row in summary["partners"]}
    errors = " ".join(result.stderr.split())

    assert result.exit_code == 1
    assert summary["rows_in"] == 300
    assert by_partner["P-INCRM"]["offered"] > 0
    assert by_partner["P-INCRM"]["waiting"] == by_partner["P-INCRM"]["offered"]
    assert "OSError: CRM export failed on purpose" in by_partner["P-INCRM"]["error"]
    assert by_partner["P-DROP"]["sent"] == by_partner["P-DROP"]["offered"]
    assert "error: deliveries to partner P-INCRM wait: delivery task failed" in errors
    assert db_rows(home, "select status from runs") == [("failed",)]


def _partner_tables(flow_run_id: str) -> list[list[dict]]:
    """Return every version of a flow run's partner-transfers table, oldest first."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                key=ArtifactFilterKey(any_=["partner-transfers"]),
            )
        )
    artifacts.sort(key=lambda artifact: artifact.created)
    return [
        json.loads(a.data) if isinstance(a.data, str) else a.data for a in artifacts
    ]


def test_flow_retry_table_covers_every_attempt(home, tmp_path, monkeypatch):
    from flows.share import share_leads
    from leadshare.generate import write_leads
    from tasks import transfer

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    real_deliver = transfer.deliver_partner
    raised: list[str] = []

    def fail_first_attempt(store, settings, partner, now, **options):
        # Three calls are the delivery task's first try and its two retries, so
        # P-INCRM's task fails in the flow run's first attempt only.
        if partner.id == "P-INCRM" and len(raised) < 3:
            raised.append(partner.id)
            raise OSError("CRM export failed on purpose")
        return real_deliver(store, settings, partner, now, **options)

    monkeypatch.setattr(transfer, "deliver_partner", fail_first_attempt)
    leads = write_leads(tmp_path / "leads.csv", 300, seed=11)
    target = home / "inbox" / "generic" / leads.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(leads, target)
    with LocalEndpoint(secret=SECRET) as endpoint:
        _partners_sharing_us_leads(home, endpoint.url)
        summary = share_leads.with_options(retries=1, retry_delay_seconds=0)()
    tables = _partner_tables(summary["run_id"])
    first = {row["partner"]: row for row in tables[0]}
    last = {row["partner"]: row for row in tables[-1]}

    assert len(raised) == 3
    assert len(tables) == 2
    # The first attempt's table has a row for the partner whose task raised.
    assert first["P-INCRM"]["offered"] > 0
    assert first["P-INCRM"]["sent"] == 0
    assert first["P-INCRM"]["waiting"] == first["P-INCRM"]["offered"]
    assert "OSError: CRM export failed on purpose" in first["P-INCRM"]["error"]
    assert first["P-DROP"]["error"] is None
    # The retry's table counts the first attempt's sends too.
    assert last == {row["partner"]: row for row in summary["partners"]}
    for partner_id in ("P-HOOK", "P-DROP", "P-INCRM"):
        assert last[partner_id]["offered"] > 0
        assert last[partner_id]["sent"] == last[partner_id]["offered"]
        assert last[partner_id]["pending_total"] == 0
        assert last[partner_id]["error"] is None
    assert last["P-DROP"]["sent"] == first["P-DROP"]["sent"]


def test_flow_retry_keeps_start_time(home, partner, tmp_path, monkeypatch):
    import datetime as dt

    from flows.share import share_leads
    from leadshare import pipeline
    from leadshare.generate import write_leads

    real_match = pipeline.match_batch
    failed_at: list[dt.datetime] = []

    def fail_once(ctx, frame, batch):
        if not failed_at:
            failed_at.append(dt.datetime.now(dt.UTC))
            raise RuntimeError("matching failed once on purpose")
        return real_match(ctx, frame, batch)

    monkeypatch.setattr(pipeline, "match_batch", fail_once)
    leads = write_leads(tmp_path / "leads.csv", 50, seed=12)
    target = home / "inbox" / "generic" / leads.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(leads, target)

    summary = share_leads.with_options(retries=1, retry_delay_seconds=0)()
    runs = db_rows(home, "select run_id, started_at, status, finished_at from runs")

    assert summary["rows_in"] == 50
    assert len(runs) == 1
    run_id, started_at, status, finished_at = runs[0]
    assert run_id == summary["run_id"]
    assert status == "completed"
    # The first attempt's start, before its failure, not the retry's start.
    assert started_at.astimezone(dt.UTC) < failed_at[0]
    assert finished_at.astimezone(dt.UTC) > failed_at[0]


def test_journal_recorded_before_opt_out(home, tmp_path, monkeypatch):
    """Webhooks accepted before a kill stay sent when the next run's file opts out."""
    from leadshare.transfer.journal import SentJournal

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    people = [
        "ann@corp-a.example,Ann,Lee,Corp A,US,(202) 555-0101,yes,referral,",
        "bob@corp-b.example,Bob,Ray,Corp B,US,(202) 555-0102,yes,referral,",
    ]
    first = tmp_path / "first.csv"
    first.write_text(REIMPORT_HEADER + "\n".join(people) + "\n", encoding="utf-8")
    opted_out = tmp_path / "opted_out.csv"
    opted_out.write_text(
        REIMPORT_HEADER + "".join(f"{row}yes\n" for row in people), encoding="utf-8"
    )
    with LocalEndpoint(secret=SECRET) as endpoint:
        write_partners(home, endpoint.url)
        run_share(home, "generic", first, deliver=False)
        hook = [
            transfer_id
            for (transfer_id,) in db_rows(
                home,
                "select transfer_id from transfers where partner_id = 'P-HOOK' "
                "and status = 'pending' order by 1",
            )
        ]
        # As a run killed after the partner's 2xx and before the store's record
        # leaves them.
        journal = SentJournal(home / "journal", "P-HOOK")
        journal.open()
        for transfer_id in hook:
            journal.append(
                {
                    "transfer_id": transfer_id,
                    "sent_at": dt.datetime.now(dt.UTC),
                    "attempts": 1,
                    "channel": "webhook",
                    "run_id": "run-killed",
                }
            )
        journal.close()
        run_share(home, "generic", opted_out)
    statuses = db_rows(
        home,
        "select status, sent_by_run from transfers where partner_id = 'P-HOOK' "
        "order by transfer_id",
    )

    assert len(hook) == 2
    assert statuses == [("sent", "run-killed")] * 2
    assert endpoint.requests == []
    assert not journal.path.exists()


def test_rows_lists_each_row_of_a_file(home, partner, tmp_path):
    from leadshare import cli
    from leadshare.generate import write_leads

    path = write_leads(tmp_path / "leads.csv", 300, seed=5)
    renamed = tmp_path / "renamed.csv"
    shutil.copyfile(path, renamed)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    summary = run_share(home, "generic", path, empty)
    stored = db_rows(
        home,
        "select o.source_row, o.outcome, o.rule, o.lead_id from row_outcomes as o "
        "join source_files as f using (file_id) where f.file_name = 'leads.csv' "
        "order by o.source_row",
    )
    sent = dict(db_rows(home, "select lead_id, partner_id from transfers"))
    runner = CliRunner()

    by_content = runner.invoke(cli.app, ["rows", str(renamed), "--json"])
    by_name = runner.invoke(cli.app, ["rows", "leads.csv", "--outcome", "shared"])
    limited = runner.invoke(cli.app, ["rows", "leads.csv", "--limit", "2"])
    rejected = runner.invoke(cli.app, ["rows", "empty.csv"])
    unknown = runner.invoke(cli.app, ["rows", "missing.csv"])
    wrong = runner.invoke(cli.app, ["rows", "leads.csv", "--outcome", "sent"])

    assert by_content.exit_code == 0, by_content.output
    (document,) = json.loads(by_content.stdout)["files"]
    assert document["file_name"] == "leads.csv"
    assert document["outcomes"] == summary["outcomes"]
    listed = [
        (row["row"], row["outcome"], row["rule"], row["lead_id"])
        for row in document["rows"]
    ]
    assert listed == stored
    for row in document["rows"]:
        partners = [item["partner_id"] for item in row["transfers"]]
        expected = [sent[row["lead_id"]]] if row["outcome"] == "shared" else []
        assert partners == expected
    shared_rows = [row for row in stored if row[1] == "shared"]
    assert by_name.exit_code == 0, by_name.output
    assert f"row {shared_rows[0][0]}: shared, {shared_rows[0][3]}, to" in by_name.output
    assert "suppressed" not in by_name.output.split("\n", 2)[2]
    assert limited.output.count("\n  row ") == 2
    assert f"and {len(stored) - 2} more rows" in limited.output
    assert rejected.exit_code == 0
    assert "rejected: " in rejected.output
    assert "No row of it" in rejected.output
    assert unknown.exit_code == 1
    assert "No file named 'missing.csv' is recorded" in unknown.output
    assert wrong.exit_code == 2
    assert "'sent' is not an outcome" in wrong.output


def _oversized_block_file(tmp_path: Path) -> Path:
    """Write 1,002 leads that share one fuzzy dedup block (same name and company)."""
    letters = "bcdfghklmnprstvz"
    rows = [
        "email,first_name,last_name,company,country,consent_share,lead_source,"
        "engagement,last_activity_at"
    ]
    for number in range(1002):
        last = "".join(letters[(number >> shift) % 16] for shift in (0, 4, 8)) + "er"
        rows.append(
            f"p{number}@acme.example,Anna,{last.title()},Acme GmbH,DE,yes,referral,"
            "50,2026-12-01"
        )
    path = tmp_path / "acme.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_oversized_fuzzy_block_warned(home, partner, tmp_path):
    summary = run_share(home, "generic", _oversized_block_file(tmp_path))

    (warning,) = summary["warnings"]
    assert warning.startswith("dedup: 1,002 rows of this run were in 1 block of more")
    assert "(largest 1,002)" in warning
    assert "company_key" in warning
    assert sum(summary["outcomes"].values()) == 1002


def test_retried_run_keeps_warnings_of_committed_file(
    home, partner, tmp_path, monkeypatch
):
    """The retry does not read the committed file again, yet reports its warning."""
    from flows.share import share_leads
    from tasks import transfer

    real_deliver = transfer.deliver_partner
    failures: list[str] = []

    def fail_first_attempt(store, settings, partner, now, **options):
        # The delivery task's first try and its two retries fail.
        if len(failures) < 3:
            failures.append(partner.id)
            raise OSError("delivery failed on purpose")
        return real_deliver(store, settings, partner, now, **options)

    monkeypatch.setattr(transfer, "deliver_partner", fail_first_attempt)
    path = _oversized_block_file(tmp_path)
    target = home / "inbox" / "generic" / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)

    summary = share_leads.with_options(retries=1, retry_delay_seconds=0)()
    (stored,) = db_rows(home, "select warnings from runs")

    assert len(failures) == 3
    assert sum(summary["outcomes"].values()) == 1002
    (warning,) = summary["warnings"]
    assert warning.startswith("dedup: 1,002 rows of this run were in 1 block")
    assert json.loads(stored[0]) == [warning]
