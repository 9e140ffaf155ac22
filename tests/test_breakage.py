"""Defects found by feeding leadshare bad input and odd operator commands.

Each xfail test states the expected behaviour; remove its mark once the defect is fixed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_flow_share import db_rows, run_share, write_partners
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
HEADER = "email,first_name,last_name,company,country,phone,consent_share,lead_source"
LEADS = (
    f"{HEADER}\n"
    "a.one@example.com,Ann,One,One Corp,US,(202) 555-0141,yes,referral\n"
    "b.two@example.com,Bob,Two,Two Corp,US,(202) 555-0142,yes,referral\n"
)
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def test_pyproject_lists_faker():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs.extend(extra)
    names = [spec.split("=")[0].strip().lower() for spec in specs]
    assert "faker" in names


def test_intake_long_field_kept_whole(tmp_path):
    from leadshare.intake import read_lead_file

    path = tmp_path / "huge.csv"
    row = f"a@example.com,A,B,C,US,,yes,web,{'x' * 200_000}"
    path.write_text(f"{HEADER},notes\n{row}\n")
    batch = read_lead_file(path)
    assert batch.rows == 1
    assert len(batch.frame["notes"].iloc[0]) == 200_000


def _queue_one(home: Path, country: str):
    """Return a run context whose store has one lead from ``country`` in the queue."""
    from leadshare.runtime import build_context

    ctx = build_context(now=NOW)
    with ctx.store.transaction() as tx:
        tx.connection.execute(
            sa.text(
                "insert into leads (lead_id, file_id, source_row, profile, country,"
                " created_at) values ('L-1', 'f1', 1, 'generic', :country, :now)"
            ),
            {"country": country, "now": NOW},
        )
        tx.connection.execute(
            sa.text(
                "insert into approvals (lead_id, proposed_partner, status, created_at) "
                "values ('L-1', 'P-NORDWIND', 'pending', :now)"
            ),
            {"now": NOW},
        )
    return ctx


def _reassign(ctx, partner_id: str) -> str:
    from leadshare.approvals import ApprovalDecision, decide

    decision = ApprovalDecision(
        lead_id="L-1", action="reassign", partner_id=partner_id, approver="tester"
    )
    return decide(ctx.store, ctx.config, decision, ctx.run_id, ctx.now)


def test_reassign_expired_partner_rejected(home):
    from leadshare.approvals import ApprovalError

    ctx = _queue_one(home, "DE")
    with pytest.raises(ApprovalError):
        _reassign(ctx, "P-EXPIRED")


def test_reassign_outside_territory_rejected(home):
    from leadshare.approvals import ApprovalError

    ctx = _queue_one(home, "DE")
    with pytest.raises(ApprovalError):
        _reassign(ctx, "P-GANGES")


def test_share_same_basename_keeps_both(home, tmp_path, monkeypatch):
    from leadshare import cli

    first = tmp_path / "a" / "leads.csv"
    second = tmp_path / "b" / "leads.csv"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_text(LEADS)
    second.write_text(LEADS.replace("Ann", "Anna"))
    ready: list[str] = []
    monkeypatch.setattr(
        cli, "_run_flow", lambda files: ready.extend(files) or {"outcomes": {}}
    )
    result = CliRunner().invoke(cli.app, ["share", "--json", str(first), str(second)])
    assert result.exit_code == 0
    names = sorted(p.name for p in (home / "inbox" / "generic").iterdir())
    # The copy sorts after the file under its own name, which a run reads first.
    assert names == ["leads.csv", "leads~2.csv"]
    # The run reads its own copies at once, whatever the inbox settle time.
    assert sorted(Path(path).name for path in ready) == names


def test_share_hidden_name_copied_visible(home, tmp_path, monkeypatch):
    from leadshare import cli

    hidden = tmp_path / "..leads.csv"
    hidden.write_text(LEADS)
    monkeypatch.setattr(cli, "_run_flow", lambda files: {"outcomes": {}})

    result = CliRunner().invoke(cli.app, ["share", "--json", str(hidden)])

    assert result.exit_code == 0
    assert [p.name for p in (home / "inbox" / "generic").iterdir()] == ["leads.csv"]


def _committed_elsewhere(home: Path, tmp_path: Path, run_id: str) -> Path:
    """Write a lead file and record it as committed by ``run_id``; return its path."""
    import hashlib

    import duckdb

    from leadshare import cli

    source = tmp_path / "leads.csv"
    source.write_text(LEADS)
    assert CliRunner().invoke(cli.app, ["status"]).exit_code == 0
    with duckdb.connect(str(home / "leadshare.duckdb")) as con:
        con.execute(
            "insert into source_files (file_id, file_name, profile, status, run_id, "
            "received_at) values (?, 'leads.csv', 'generic', 'committed', ?, now())",
            [hashlib.sha256(source.read_bytes()).hexdigest()[:32], run_id],
        )
    return source


def test_share_names_files_another_run_handled(home, tmp_path, monkeypatch):
    from leadshare import cli

    source = _committed_elsewhere(home, tmp_path, "run-elsewhere")
    summary = {"run_id": "run-here", "rows_in": 0, "outcomes": {}}
    monkeypatch.setattr(cli, "_run_flow", lambda files: dict(summary))

    result = CliRunner().invoke(cli.app, ["share", "--json", str(source)])

    assert result.exit_code == 0
    assert json.loads(result.output)["files_in_other_runs"] == [
        {"file": "leads.csv", "status": "committed", "run_id": "run-elsewhere"}
    ]


def test_share_lists_a_skipped_repeat_once(home, tmp_path, monkeypatch):
    # A file committed before and given again is skipped by this run. The skip
    # names the run that committed it, so the file is not listed a second time.
    from leadshare import cli

    source = _committed_elsewhere(home, tmp_path, "run-before")
    skipped = [{"file": "leads.csv", "reason": "committed in run run-before"}]
    summary = {"run_id": "run-here", "rows_in": 0, "outcomes": {}}
    summary["skipped_files"] = skipped
    monkeypatch.setattr(cli, "_run_flow", lambda files: dict(summary))

    result = CliRunner().invoke(cli.app, ["share", "--json", str(source)])

    assert result.exit_code == 0
    printed = json.loads(result.output)
    assert printed["skipped_files"] == skipped
    assert printed["files_in_other_runs"] == []


def test_endpoint_enable_unknown_partner(home):
    from leadshare import cli

    result = CliRunner().invoke(cli.app, ["endpoint", "enable", "P-NOPE"])
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "partner 'P-NOPE' is not in partners.yaml; the partner ids are" in output
    assert "P-NORDWIND" in output


def test_endpoint_enable_ends_backoff(home):
    import datetime as dt

    import sqlalchemy

    from leadshare import cli
    from leadshare.runtime import build_context

    now = dt.datetime.now(dt.UTC)
    ends = now + dt.timedelta(minutes=10)
    own_retry = now + dt.timedelta(hours=2)
    store = build_context().store
    with store.transaction() as tx:
        for transfer_id, due in (("t-held", ends), ("t-own", own_retry)):
            tx.execute(
                "add_transfer",
                transfer_id=transfer_id,
                lead_id=f"L-{transfer_id}",
                partner_id="P-NORDWIND",
                channel="webhook",
                created_at=now,
                run_id="run-x",
            )
            tx.connection.execute(
                sqlalchemy.text(
                    "update transfers set next_attempt_at = :due "
                    "where transfer_id = :id"
                ),
                {"due": due, "id": transfer_id},
            )
        tx.execute(
            "start_endpoint_backoff",
            partner_id="P-NORDWIND",
            next_attempt_at=ends,
            reason="HTTP 429",
        )

    result = CliRunner().invoke(cli.app, ["endpoint", "enable", "P-NORDWIND"])
    with store.transaction() as tx:
        due = dict(
            tx.connection.exec_driver_sql(
                "select transfer_id, next_attempt_at from transfers"
            ).fetchall()
        )
    left = store.rows("backing_off_endpoints", now=now)

    assert result.exit_code == 0
    assert "Back-off of P-NORDWIND ended" in " ".join(result.output.split())
    assert left == []
    assert due["t-held"] < ends
    assert due["t-own"] == own_retry


def test_endpoint_enable_checks_state(home):
    import datetime as dt

    from leadshare import cli
    from leadshare.runtime import build_context

    runner = CliRunner()
    not_disabled = runner.invoke(cli.app, ["endpoint", "enable", "P-NORDWIND"])
    store = build_context().store
    with store.transaction() as tx:
        # P-THAMES delivers by CRM export now, but was disabled as a webhook partner.
        for partner_id in ("P-NORDWIND", "P-THAMES"):
            tx.execute(
                "disable_endpoint",
                partner_id=partner_id,
                disabled_at=dt.datetime.now(dt.UTC),
                reason="410 Gone",
            )
    # Partner ids match in any case, as in the approval commands.
    enabled = runner.invoke(cli.app, ["endpoint", "enable", "p-nordwind"])
    not_webhook = runner.invoke(cli.app, ["endpoint", "enable", "P-THAMES"])

    assert not_webhook.exit_code == 0
    assert "Endpoint of P-THAMES enabled." in not_webhook.output
    assert not_disabled.exit_code == 0
    assert "is not disabled or backing off" in " ".join(not_disabled.output.split())
    assert enabled.exit_code == 0
    assert "Endpoint of P-NORDWIND enabled." in enabled.output
    assert store.rows("disabled_endpoints") == []


def test_status_limit_out_of_range(home):
    from leadshare import cli

    result = CliRunner().invoke(cli.app, ["status", "--limit", "100000000000000000000"])

    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_share_folder_argument(home, tmp_path):
    from leadshare import cli

    result = CliRunner().invoke(cli.app, ["share", str(tmp_path)])
    assert result.exit_code == 2
    # Rich wraps the message at the terminal width.
    assert "is a folder, not a lead file" in " ".join(result.output.split())


def test_status_limit_below_one(home):
    from leadshare import cli

    result = CliRunner().invoke(cli.app, ["status", "--limit", "-1"])
    assert result.exit_code == 2
    assert "--limit" in result.output
    assert "Traceback" not in result.output


def test_malformed_store_url_message(home, monkeypatch):
    from leadshare import cli

    monkeypatch.setenv("LEADSHARE_DB_URL", "nonsense")
    result = CliRunner().invoke(cli.app, ["status"])
    assert result.exit_code == 2
    assert "store URL (LEADSHARE_DB_URL) is invalid" in result.output
    assert "nonsense" not in result.output


def test_explain_trims_the_lead_id(home, monkeypatch):
    from leadshare import cli, explain

    requested_ids = []
    monkeypatch.setattr(
        explain,
        "explain_lead",
        lambda store, lead_id, *context: requested_ids.append(lead_id) or ["ok"],
    )
    runner = CliRunner()
    for typed_id in ("  L-00000000000000ab\t", "\ufeffL-00000000000000AB\u200b", "l-00000000000000ab"):
        result = runner.invoke(cli.app, ["explain", typed_id])
        assert result.exit_code == 0
    assert requested_ids == ["L-00000000000000ab"] * 3


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LEADSHARE_WEBHOOK_BUDGET_S", "0"),
        ("LEADSHARE_HTTP_TIMEOUT_S", "-1"),
        ("LEADSHARE_HTTP_ATTEMPTS", "0"),
        ("LEADSHARE_SEED", "seven"),
        ("LEADSHARE_HTTP_TIMEOUT_S", "inf"),
        ("LEADSHARE_WEBHOOK_BUDGET_S", "1e30"),
        ("LEADSHARE_HTTP_DEADLINE_S", "nan"),
        ("LEADSHARE_HOME", ""),
        ("LEADSHARE_HOME", "  "),
    ],
)
def test_bad_setting_names_its_variable(home, monkeypatch, variable, value):
    from leadshare import cli

    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(cli.app, ["status"])
    assert result.exit_code == 2
    assert variable in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://bob:s3cretpw@127.0.0.1:5x32/db", "notaurl s3cretpw"],
)
def test_bad_store_url_hides_value(home, monkeypatch, url):
    from leadshare import cli

    monkeypatch.setenv("LEADSHARE_DB_URL", url)
    result = CliRunner().invoke(cli.app, ["status"])
    assert result.exit_code == 2
    assert "LEADSHARE_DB_URL" in result.output
    assert "s3cretpw" not in result.output


def test_explain_unknown_lead_exit_code(home):
    from leadshare import cli

    result = CliRunner().invoke(cli.app, ["explain", "L-0000000000000000"])
    assert result.exit_code != 0


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_missing_secret_other_partners_delivered(home, tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_PARTNER_SECRET", raising=False)
    write_partners(home, "http://127.0.0.1:9/none", hook_capacity=1)
    source = tmp_path / "two.csv"
    source.write_text(LEADS)
    summary = run_share(home, "generic", source)
    assert summary["rows_in"] == 2
    sent = db_rows(home, "select status from transfers where partner_id = 'P-DROP'")
    assert sent == [("sent",)]


def _share_cli(monkeypatch, *args: str):
    from leadshare import cli

    runs = []
    monkeypatch.setattr(
        cli, "_run_flow", lambda files: runs.append(1) or {"outcomes": {}}
    )
    result = CliRunner().invoke(cli.app, ["share", "--json", *args])
    return result, runs


def test_share_unsupported_suffix_copies_nothing(home, tmp_path, monkeypatch):
    sheet = tmp_path / "leads.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    result, runs = _share_cli(monkeypatch, str(sheet))
    assert result.exit_code == 2
    assert "leads.xlsx" in result.output
    assert not runs
    assert not list((home / "inbox").rglob("*.*"))


def test_share_missing_second_file_copies_nothing(home, tmp_path, monkeypatch):
    good = tmp_path / "good.csv"
    good.write_text(LEADS)
    result, runs = _share_cli(monkeypatch, str(good), str(tmp_path / "missing.csv"))
    assert result.exit_code == 2
    assert "missing.csv" in result.output
    assert not runs
    assert not list((home / "inbox").rglob("*.csv"))


def test_failpoint_typo_fails_before_the_run(home, monkeypatch):
    from leadshare import cli

    monkeypatch.setenv("LEADSHARE_FAILPOINT", "after_comit")
    monkeypatch.setattr(cli, "_run_flow", lambda: pytest.fail("the flow started"))
    result = CliRunner().invoke(cli.app, ["run"])
    assert result.exit_code == 2
    assert "after_comit" in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_explain_duplicate_keeps_file_name_case(home, tmp_path):
    from leadshare.explain import explain_lead
    from leadshare.runtime import build_context

    source = tmp_path / "Leads-MixedCase.csv"
    source.write_text(LEADS + LEADS.splitlines()[1] + "\n")
    run_share(home, "generic", source)
    lead_id = db_rows(
        home, "select lead_id from row_outcomes where outcome = 'duplicate'"
    )[0][0]
    lines = explain_lead(build_context().store, lead_id)
    assert any("Leads-MixedCase.csv" in line for line in lines)


def test_status_lines_fit_80_columns():
    from leadshare.cli import run_lines

    row = {
        "run_id": "0f4c2a9e-5b7d-4e1a-9c3f-2d8b6a1e7f90",
        "started_at": dt.datetime(2026, 12, 4, 22, 15, 30, 123456),
        "status": "completed",
        "files_in": 2,
        "rows_in": 3000,
        "summary": '{"outcomes": {"shared": 932, "duplicate": 0, "suppressed": 1281}}',
    }
    lines = run_lines(row)

    assert lines[0] == row["run_id"]
    assert lines[1] == (
        "  started 2026-12-04 22:15:30 UTC, completed, 2 files, 3,000 rows"
    )
    assert lines[2] == "  shared 932, suppressed 1,281"
    assert all(len(line) <= 80 for line in lines)


def test_status_line_of_outcomes_changed_after_the_run():
    # An opt-out in a later file withdrew one of the run's shared leads.
    from leadshare.cli import run_lines

    row = {
        "run_id": "run-d",
        "started_at": "2026-12-04 22:15:30",
        "status": "completed",
        "files_in": 1,
        "rows_in": 3,
        "summary": '{"outcomes": {"shared": 3, "duplicate": 0}}',
    }

    unchanged = run_lines(row, {"shared": 3})
    changed = run_lines(row, {"suppressed": 1, "shared": 2})

    assert unchanged[2:] == ["  shared 3"]
    assert changed[2:] == [
        "  shared 3",
        "  now: shared 2, suppressed 1 (changed after the run by opt-outs, "
        "approvals or later matching)",
    ]


def test_status_line_of_taken_over_run():
    from leadshare.cli import run_lines

    row = {
        "run_id": "run-a",
        "started_at": "2026-12-04 22:15:30",
        "status": "crashed",
        "files_in": 1,
        "rows_in": None,
        "summary": '{"taken_over_by": "run-b"}',
    }

    expected = [
        "  started 2026-12-04 22:15:30 UTC, crashed, 1 file, 0 rows",
        "  reported by run-b",
    ]
    assert run_lines(row)[1:] == expected
    assert run_lines(row, {"shared": 2})[1:] == expected


BERLIN_WINTER = dt.timezone(dt.timedelta(hours=1))


def test_status_works_with_invalid_config(home):
    from leadshare import cli

    runner = CliRunner()
    first = runner.invoke(cli.app, ["status"])
    partners = home / "config" / "partners.yaml"
    partners.write_text("partners: [\n", encoding="utf-8")
    second = runner.invoke(cli.app, ["status"])
    explain = runner.invoke(cli.app, ["explain", "L-0123456789abcdef"])
    as_json = runner.invoke(cli.app, ["status", "--json"])

    assert first.exit_code == 0, first.output
    assert as_json.exit_code == 0, as_json.output
    assert "partners.yaml" in json.loads(as_json.stdout)["config_error"]
    assert second.exit_code == 0, second.output
    assert "warning:" in second.stderr
    assert "partners.yaml" in second.stderr
    assert "Latest runs (0)" in second.stdout
    assert explain.exit_code == 1
    assert "warning:" in explain.stderr
    assert "No lead L-0123456789abcdef is recorded" in explain.stdout


def test_status_line_of_unfinished_run():
    from leadshare.cli import run_lines

    row = {
        "run_id": "run-c",
        "started_at": dt.datetime(2026, 12, 4, 23, 15, 30, tzinfo=BERLIN_WINTER),
        "status": "running",
        "files_in": 2,
        "rows_in": 200,
        "summary": None,
    }

    assert run_lines(row)[1:] == [
        "  started 2026-12-04 22:15:30 UTC, running, 2 files, 200 rows",
        "  no outcomes recorded",
    ]
    assert run_lines(row, {"shared": 90, "duplicate": 10})[2] == (
        "  recorded so far: shared 90, duplicate 10"
    )


def test_status_line_counts_backlog_placements():
    from leadshare.cli import run_lines

    row = {
        "run_id": "run-c",
        "started_at": "2026-12-04 23:00:00",
        "status": "completed",
        "files_in": 0,
        "rows_in": 0,
        "summary": '{"outcomes": {"shared": 0}, "backlog_placed": 3}',
    }

    assert run_lines(row)[2] == "  3 waiting leads placed"


@pytest.mark.parametrize("cut", [False, True])
def test_file_changed_after_claim_waits(home, tmp_path, cut):
    from leadshare import pipeline
    from leadshare.errors import FileChangedError
    from leadshare.generate import write_leads
    from leadshare.runtime import build_context

    inbox_file = home / "inbox" / "generic" / "leads.csv"
    inbox_file.parent.mkdir(parents=True)
    write_leads(inbox_file, 40, seed=8)
    ctx = build_context()
    (item,) = pipeline.claim_files(ctx)
    data = inbox_file.read_bytes()
    # The copy goes on after the claim: more rows arrive, or the claim saw a
    # half-written file whose cut falls inside a quoted value.
    inbox_file.write_bytes(data[: len(data) // 2] + b'"unclosed' if cut else data * 2)

    with pytest.raises(FileChangedError, match="still being copied"):
        pipeline.read_batch(ctx, item)
    assert inbox_file.exists()
    assert not list((home / "quarantine").rglob("*.csv"))


def test_file_renamed_after_claim_named(home, tmp_path):
    from leadshare import pipeline
    from leadshare.errors import FileChangedError
    from leadshare.generate import write_leads
    from leadshare.runtime import build_context

    inbox_file = home / "inbox" / "generic" / "leads.csv"
    inbox_file.parent.mkdir(parents=True)
    write_leads(inbox_file, 40, seed=8)
    ctx = build_context()
    (item,) = pipeline.claim_files(ctx)
    inbox_file.rename(inbox_file.with_name("leads-renamed.csv"))

    with pytest.raises(FileChangedError) as caught:
        pipeline.read_batch(ctx, item)

    message = str(caught.value)
    assert "was renamed, moved or deleted after this run claimed it" in message
    assert "still being copied" not in message
    assert (inbox_file.parent / "leads-renamed.csv").exists()


def test_share_unwritable_inbox_named(home, tmp_path):
    from leadshare import cli

    lead_file = tmp_path / "leads.csv"
    lead_file.write_text("email\na@example.com\n", encoding="utf-8")
    # A file where the profile's inbox folder should be: the copy cannot go there.
    (home / "inbox").mkdir(exist_ok=True)
    (home / "inbox" / "generic").write_text("not a folder", encoding="utf-8")

    result = CliRunner().invoke(cli.app, ["share", str(lead_file)])

    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "cannot copy" in output
    assert "Make the inbox folder writable" in output
    assert "Traceback" not in output


def test_empty_approver_named(home):
    from leadshare import cli

    result = CliRunner().invoke(
        cli.app, ["approvals", "approve", "L-0000000000000000", "--approver", ""]
    )

    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "invalid decision: approver:" in output
    assert "pydantic.dev" not in output


def test_blank_approver_and_partner_named(home):
    from leadshare import cli

    blank_approver = CliRunner().invoke(
        cli.app, ["approvals", "approve", "L-0000000000000000", "--approver", "   "]
    )
    blank_partner = CliRunner().invoke(
        cli.app,
        ["approvals", "reassign", "L-0000000000000000", "--partner", " ", "--approver", "x"],
    )

    assert blank_approver.exit_code == 2
    assert "invalid decision: approver:" in " ".join(blank_approver.output.split())
    assert blank_partner.exit_code == 2
    assert "reassign needs a partner id" in " ".join(blank_partner.output.split())


def test_config_folder_blocked_by_file(home):
    import shutil

    from leadshare import cli

    shutil.rmtree(home / "config", ignore_errors=True)
    (home / "config").write_text("a file where the folder should be", encoding="utf-8")

    approve = ["approvals", "approve", "L-0123456789abcdef"]
    result = CliRunner().invoke(cli.app, approve)
    status = CliRunner().invoke(cli.app, ["status"])

    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert "cannot create this folder of LEADSHARE_HOME" in output
    assert "Traceback" not in output
    # status reads only the store, so it names the problem and goes on.
    assert status.exit_code == 0
    assert "cannot create this folder" in " ".join(status.stderr.split())


def test_new_home_gets_a_note(tmp_path, monkeypatch):
    from leadshare import cli

    monkeypatch.setenv("LEADSHARE_HOME", str(tmp_path / "typo-home"))
    runner = CliRunner()
    first = runner.invoke(cli.app, ["status"])
    second = runner.invoke(cli.app, ["status"])

    assert first.exit_code == 0
    assert "example config" in " ".join(first.output.split())
    assert "example config" not in second.output


@pytest.mark.parametrize("name", ["é" * 200 + ".csv", "a" * 300, "short.csv"])
def test_archive_names_fit_with_reason_suffix(name):
    import os

    from leadshare.pipeline import _archive_name

    archived = _archive_name("0123456789abcdef", name)
    size = len(os.fsencode(archived + ".reason.txt"))
    assert size <= 255
    assert archived.startswith("0123456789ab-")
    if len(os.fsencode(name)) < 200:
        assert archived == "0123456789ab-" + name
    else:
        assert archived.endswith("~" + name[-4:]) or archived.endswith("~")


def test_run_exits_1_on_partner_error(home, monkeypatch):
    from leadshare import cli

    error = "outbox folder /x/P-DROP cannot be created because /x/P-DROP is not a folder"
    partner = {column: 0 for column in cli.PARTNER_COLUMNS}
    partner.update(partner="P-DROP", channel="file_drop", waiting=3, error=error)
    summary = {
        "run_id": "run-here",
        "rows_in": 0,
        "outcomes": {},
        "rejected_files": [],
        "partners": [partner],
    }
    monkeypatch.setattr(cli, "_run_flow", lambda: summary)

    result = CliRunner().invoke(cli.app, ["run"])

    assert result.exit_code == 1
    assert "Transfers per partner" in result.stdout
    assert f"error: deliveries to partner P-DROP wait: {error}" in result.stderr


def test_run_prints_waits_moves_and_backlog(home, monkeypatch):
    from leadshare import cli

    partner = {column: 0 for column in cli.PARTNER_COLUMNS}
    partner.update(partner="P-REST", channel="webhook", waiting=2, retry_later=1)
    partner.update(error=None, waiting_reason="the partner is inactive (paused)")
    partner.update(
        failed_leads=["L-1", "L-2", "L-3", "L-4", "L-5"],
        failed_reason="HTTP 422 Unprocessable Entity: unknown industry",
    )
    summary = {
        "run_id": "run-here",
        "rows_in": 3000,
        "outcomes": {"shared": 3000},
        "rejected_files": [
            {
                "file": "bad.csv",
                "reason": "inbox/generic/bad.csv: the file is empty",
                "quarantined_as": "quarantine/generic/0123456789ab-bad.csv",
            }
        ],
        "partners": [partner],
        "backlog_placed": 4,
        "backlog_held": 1,
        "backlog_disqualified": 2,
    }
    monkeypatch.setattr(cli, "_run_flow", lambda: summary)

    result = CliRunner().invoke(cli.app, ["run"])
    printed = " ".join(result.output.split())

    # The rejected file needs a fix by hand.
    assert result.exit_code == 1, result.output
    assert (
        "error: 1 file was rejected whole and moved to quarantine/ with a reason "
        "file: bad.csv. Fix each one and put it in the inbox again"
    ) in printed
    assert "3,000 rows in" in printed
    assert "moved to quarantine/generic/0123456789ab-bad.csv" in printed
    assert "P-REST: 3 not sent yet: the partner is inactive (paused)" in printed
    assert "P-REST: 5 transfers failed for good (L-1, L-2, L-3 and 2 more)" in printed
    assert "for example with: HTTP 422 Unprocessable Entity: unknown" in printed
    assert "Placed 4 waiting leads from earlier runs with a partner" in printed
    assert (
        "Of the leads from earlier runs, 1 went to the approval queue and 2 failed "
        "a rule changed since"
    ) in printed


def test_status_document_lists_endpoints():
    from leadshare.cli import status_document

    at = dt.datetime(2026, 12, 6, 8, 0, tzinfo=BERLIN_WINTER)
    disabled = [{"partner_id": "P-A", "disabled_at": at, "reason": "HTTP 410"}]
    backing_off = [{"partner_id": "P-B", "next_attempt_at": at, "reason": "HTTP 429"}]
    pending = [{"partner_id": "P-A", "pending": 2}, {"partner_id": "P-A", "pending": 1}]

    document = status_document([], {}, None, disabled, backing_off, pending, None)

    assert document["endpoints"] == [
        {
            "partner_id": "P-A",
            "state": "disabled",
            "since": "2026-12-06T07:00:00+00:00",
            "reason": "HTTP 410",
            "waiting_transfers": 3,
        },
        {
            "partner_id": "P-B",
            "state": "backing_off",
            "until": "2026-12-06T07:00:00+00:00",
            "reason": "HTTP 429",
            "waiting_transfers": 0,
        },
    ]


def test_file_rejected_by_other_run_exits_1(home, monkeypatch):
    from leadshare import cli

    other = {"file": "late.csv", "status": "rejected", "run_id": "run-other"}
    summary = {"run_id": "run-here", "rows_in": 0, "outcomes": {}, "partners": []}
    summary.update(rejected_files=[], files_in_other_runs=[other])
    monkeypatch.setattr(cli, "_run_flow", lambda: summary)

    result = CliRunner().invoke(cli.app, ["run", "--json"])

    assert result.exit_code == 1, result.output
    assert "1 file was rejected whole" in " ".join(result.stderr.split())


def test_run_json_prints_summary(home, monkeypatch):
    import json

    from leadshare import cli

    summary = {"run_id": "run-here", "rows_in": 0, "outcomes": {}, "partners": []}
    monkeypatch.setattr(cli, "_run_flow", lambda: summary)

    result = CliRunner().invoke(cli.app, ["run", "--json"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == summary


def test_unreachable_prefect_server_named(home: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lead_file = tmp_path / "leads.csv"
    lead_file.write_text("email,country\na@example.com,DE\n", encoding="utf-8")
    environment = dict(os.environ, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    command = Path(sys.executable).with_name("leadshare")
    result = subprocess.run(
        [str(command), "share", "--json", str(lead_file)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    message = " ".join(result.stderr.split())
    assert result.returncode == 2
    assert f"http://127.0.0.1:{port}/api did not respond" in message
    assert result.stdout == ""
    assert "Traceback" not in result.stdout + result.stderr
    assert (home / "inbox" / "generic" / "leads.csv").exists()


@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (["share", "--json", "/tmp/missing/leads [final].csv"], "leads [final].csv"),
        (["endpoint", "enable", "[/x]"], "partner '[/x]' is not in partners.yaml"),
        (["approvals", "approve", "[/x]", "--approver", "ann"], "[/x]"),
    ],
)
def test_brackets_in_errors_printed_as_written(home, args, kept):
    from leadshare import cli

    result = CliRunner().invoke(cli.app, args)
    output = " ".join(result.output.split())

    assert result.exit_code == 2, output
    assert kept in output
    assert "MarkupError" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_blank_home_creates_nothing(monkeypatch, tmp_path):
    from leadshare import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADSHARE_HOME", "")
    result = CliRunner().invoke(cli.app, ["status"])
    output = " ".join(result.output.split())

    assert result.exit_code == 2
    assert "LEADSHARE_HOME: is empty; set it to a folder, or unset it" in output
    assert list(tmp_path.iterdir()) == []


def test_read_only_config_folder_named(tmp_path, monkeypatch):
    from test_filedrop import read_only_folder

    from leadshare import cli

    home = tmp_path / "home"
    monkeypatch.setenv("LEADSHARE_HOME", str(home))
    approve = ["approvals", "approve", "L-0123456789abcdef"]
    with read_only_folder(home / "config"):
        result = CliRunner().invoke(cli.app, approve)
    output = " ".join(result.output.split())

    assert result.exit_code == 2, output
    assert f"{home / 'config'}: cannot copy the example config" in output
    assert "Traceback" not in output


def test_read_only_server_records_named(home, monkeypatch, tmp_path):
    from test_filedrop import read_only_folder

    from leadshare import cli

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    source = tmp_path / "few.csv"
    source.write_text("email,first_name\nann@corp.example,Ann\n", encoding="utf-8")
    with read_only_folder(home / "prefect-servers"):
        result = CliRunner().invoke(cli.app, ["share", "--json", str(source)])
    output = " ".join(result.output.split())

    assert result.exit_code == 2, output
    assert "cannot write the record of this command's temporary Prefect" in output
    assert "Traceback" not in output


def test_home_that_is_a_file_named(tmp_path, monkeypatch):
    from leadshare import cli

    home = tmp_path / "home"
    home.write_text("not a folder\n", encoding="utf-8")
    monkeypatch.setenv("LEADSHARE_HOME", str(home))
    result = CliRunner().invoke(cli.app, ["status"])
    output = " ".join(result.output.split())

    assert result.exit_code == 2, output
    assert f"LEADSHARE_HOME {home} is a file, not a folder" in output


def test_transfer_retry_arguments_checked(home):
    from leadshare import cli

    runner = CliRunner()
    nothing = runner.invoke(cli.app, ["transfer", "retry"])
    unknown_lead = runner.invoke(cli.app, ["transfer", "retry", "L-0123456789abcdef"])
    unknown_partner = runner.invoke(cli.app, ["transfer", "retry", "--partner", "P-NO"])
    none_failed = runner.invoke(cli.app, ["transfer", "retry", "--partner", "p-thames"])

    assert nothing.exit_code == 2
    assert "lead ids, --partner ID, or both" in " ".join(nothing.output.split())
    assert unknown_lead.exit_code == 2
    assert "has no transfer to any partner" in " ".join(unknown_lead.output.split())
    assert unknown_partner.exit_code == 2
    assert "'P-NO' is not in partners.yaml" in " ".join(unknown_partner.output.split())
    assert none_failed.exit_code == 0
    assert none_failed.output == "No failed transfer matches; nothing to do.\n"


def test_shared_outbox_and_journal_folders(monkeypatch, tmp_path):
    from leadshare.settings import get_settings

    monkeypatch.setenv("LEADSHARE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LEADSHARE_OUTBOX_DIR", str(tmp_path / "shared" / "outbox"))
    monkeypatch.setenv("LEADSHARE_JOURNAL_DIR", " ")
    settings = get_settings()
    settings.ensure_folders()

    assert settings.outbox == tmp_path / "shared" / "outbox"
    assert settings.outbox.is_dir()
    assert settings.journal == tmp_path / "home" / "journal"
    assert not (tmp_path / "home" / "outbox").exists()
