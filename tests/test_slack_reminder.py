"""Slack posts outside the run summary: approval reminders and failed runs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from httpserver import LocalEndpoint
from test_flow_share import SECRET, write_partners

from leadshare.runtime import build_context

pytestmark = pytest.mark.usefixtures("prefect_harness")


@contextmanager
def _slack(monkeypatch) -> Iterator[LocalEndpoint]:
    """Start a stand-in Slack webhook and point LEADSHARE_SLACK_WEBHOOK at it."""
    with LocalEndpoint() as slack:
        monkeypatch.setenv("TEST_SLACK_URL", slack.url)
        monkeypatch.setenv("LEADSHARE_SLACK_WEBHOOK", "env:TEST_SLACK_URL")
        yield slack


def _break_partners(home) -> None:
    path = home / "config" / "partners.yaml"
    path.write_text(path.read_text() + "\n  - id: [unclosed\n")


def _quiet_runs(home, monkeypatch, count: int) -> list[str]:
    """Run the flow ``count`` times on an empty inbox; return the Slack texts."""
    from flows.share import share_leads

    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    with LocalEndpoint(secret=SECRET) as partner, _slack(monkeypatch) as slack:
        write_partners(home, partner.url)
        for _ in range(count):
            assert share_leads.with_options(retries=0)()["rows_in"] == 0
    return [json.loads(request.body)["text"] for request in slack.requests]


def _hold_for_approval(*lead_ids: str) -> None:
    store = build_context().store
    with store.transaction() as tx:
        for lead_id in lead_ids:
            tx.connection.exec_driver_sql(
                "insert into approvals (lead_id, status, created_at) "
                f"values ('{lead_id}', 'pending', now())"
            )


def test_quiet_run_reminds_once(home, monkeypatch):
    _hold_for_approval("L-strategic-1", "L-strategic-2")

    texts = _quiet_runs(home, monkeypatch, 2)

    (text,) = texts
    assert text.endswith(
        ": nothing new. 2 leads in the approval queue: `leadshare approvals list`."
    )
    assert "L-strategic" not in text


def test_reminder_after_interval(home, monkeypatch):
    _hold_for_approval("L-strategic-1")
    store = build_context().store
    with store.transaction() as tx:
        tx.execute(
            "start_run",
            run_id="run-yesterday",
            flow_run_id=None,
            started_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=30),
        )
        tx.execute(
            "mark_slack_posted",
            run_id="run-yesterday",
            posted_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25),
        )
    monkeypatch.setenv("LEADSHARE_SLACK_REMINDER_HOURS", "24")

    (text,) = _quiet_runs(home, monkeypatch, 1)

    assert "1 lead in the approval queue" in text


def test_no_reminder_when_none_or_off(home, monkeypatch):
    assert _quiet_runs(home, monkeypatch, 1) == []

    _hold_for_approval("L-strategic-1")
    monkeypatch.setenv("LEADSHARE_SLACK_REMINDER_HOURS", "0")

    assert _quiet_runs(home, monkeypatch, 1) == []


def test_failed_run_posts_on_last_attempt(home, monkeypatch):
    from flows.share import share_leads

    _break_partners(home)
    with _slack(monkeypatch) as slack:
        state = share_leads.with_options(retries=1, retry_delay_seconds=0)(
            return_state=True
        )

    assert state.is_failed()
    (request,) = slack.requests
    text = json.loads(request.body)["text"]
    assert " failed (ConfigError: " in text
    assert "partners.yaml" in text
    assert text.endswith("The flow run's log in Prefect has the details.")


def test_cli_config_error_posts_once(home, monkeypatch):
    from typer.testing import CliRunner

    from leadshare import cli

    _break_partners(home)
    with _slack(monkeypatch) as slack:
        result = CliRunner().invoke(cli.app, ["run"])

    assert result.exit_code == 2
    (request,) = slack.requests
    text = json.loads(request.body)["text"]
    assert text.startswith("A leadshare run failed before it started (ConfigError: ")
    assert "partners.yaml" in text
