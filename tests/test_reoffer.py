"""Leads whose transfer a partner rejected with a 4xx go to the other partners."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from httpserver import LocalEndpoint
from test_backlog import ROWS, _run
from typer.testing import CliRunner

from leadshare import cli
from leadshare.delivery import deliver_partner
from leadshare.explain import explain_lead
from leadshare.match import REJECTED_BEFORE

SECRET = "whsec_" + "cmVvZmZlci10ZXN0LXNlY3JldC0xMjM0NTY3OA=="
DAY1 = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)


@pytest.fixture
def rejecting_partner(home, monkeypatch):
    """A webhook partner that rejects every lead with 422, and a file-drop partner."""
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    with LocalEndpoint(default=422, secret=SECRET) as endpoint:
        common = {
            "territory": {"countries": ["US"]},
            "fields": ["lead_id", "company"],
            "timezone": "UTC",
        }
        partners = [
            {
                **common,
                "id": "P-HOOK",
                "name": "Hook",
                "tier": "gold",
                "performance": 0.9,
                "capacity_per_day": 3,
                "capacity_per_week": 100,
                "channel": "webhook",
                "webhook": {"url": endpoint.url, "secret": "env:TEST_PARTNER_SECRET"},
            },
            {
                **common,
                "id": "P-DROP",
                "name": "Drop",
                "tier": "bronze",
                "performance": 0.1,
                "capacity_per_day": 20,
                "capacity_per_week": 100,
                "channel": "file_drop",
            },
        ]
        (home / "config" / "partners.yaml").write_text(
            yaml.safe_dump({"partners": partners})
        )
        inbox = home / "inbox" / "generic"
        inbox.mkdir(parents=True)
        header = "email,first_name,last_name,company,country,phone,consent_share,"
        header += "lead_source\n"
        (inbox / "ten.csv").write_text(header + ROWS, encoding="utf-8")
        yield endpoint


def _transfers(ctx) -> dict[str, list[tuple[str, str]]]:
    """Return each lead's transfers as (partner, status), oldest first."""
    with ctx.store.transaction() as tx:
        rows = tx.connection.exec_driver_sql(
            "select lead_id, partner_id, status from transfers "
            "order by lead_id, created_at"
        ).fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for lead_id, partner_id, status in rows:
        found.setdefault(lead_id, []).append((partner_id, status))
    return found


def _deliver(ctx, partner_id: str, now: dt.datetime):
    partner = next(p for p in ctx.config.partners if p.id == partner_id)
    return deliver_partner(ctx.store, ctx.settings, partner, now)


def test_rejected_leads_reach_other_partner(rejecting_partner):
    first = _run(DAY1)
    rejected = _deliver(first, "P-HOOK", DAY1)
    failed = [
        lead_id
        for lead_id, transfers in _transfers(first).items()
        if transfers == [("P-HOOK", "failed")]
    ]
    runner = CliRunner()

    reoffered = runner.invoke(cli.app, ["transfer", "reoffer", "--partner", "p-hook"])
    retried = runner.invoke(cli.app, ["transfer", "retry", "--partner", "P-HOOK"])
    second = _run(DAY1 + dt.timedelta(hours=1))
    again = runner.invoke(cli.app, ["transfer", "reoffer", failed[0]])

    assert rejected.failed == 3
    assert len(failed) == 3
    assert reoffered.exit_code == 0, reoffered.output
    assert reoffered.output.startswith("3 leads back in the backlog (rejected by ")
    assert "P-HOOK 3" in reoffered.output
    assert "No failed transfer matches" in retried.output
    assert second.placed == 3
    transfers = _transfers(second)
    for lead_id in failed:
        assert transfers[lead_id] == [("P-HOOK", "failed"), ("P-DROP", "pending")]
    assert len(rejecting_partner.requests) == 3
    text = "\n".join(explain_lead(second.store, failed[0]))
    assert f"P-HOOK: {REJECTED_BEFORE}" in text
    assert "chosen partner: P-DROP" in text
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output


def test_reoffer_keeps_opted_out_and_old_leads(rejecting_partner):
    first = _run(DAY1)
    _deliver(first, "P-HOOK", DAY1)
    failed = sorted(
        lead_id
        for lead_id, transfers in _transfers(first).items()
        if transfers == [("P-HOOK", "failed")]
    )
    with first.store.transaction() as tx:
        tx.connection.exec_driver_sql(
            "insert into suppression select email_key, 'email', 'opted out', 'test', "
            f"now() from leads where lead_id = '{failed[0]}'"
        )
        tx.connection.exec_driver_sql(
            "update leads set created_at = created_at - interval 60 day "
            f"where lead_id = '{failed[1]}'"
        )
    runner = CliRunner()

    result = runner.invoke(cli.app, ["transfer", "reoffer", *failed])
    nothing = runner.invoke(cli.app, ["transfer", "reoffer"])
    unknown = runner.invoke(cli.app, ["transfer", "reoffer", "L-0123456789abcdef"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 lead back in the backlog (rejected by P-HOOK 1)")
    assert "1 lead read before the backlog window" in result.output
    assert nothing.exit_code == 2
    assert "lead ids, --partner ID, or both" in " ".join(nothing.output.split())
    assert unknown.exit_code == 2
    assert "has no transfer to any partner" in " ".join(unknown.output.split())
