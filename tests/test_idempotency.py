"""A retried flow or task never sends a lead to a partner twice (acceptance case B30)."""

from __future__ import annotations

import json

import pytest
from httpserver import LocalEndpoint, Reply
from test_flow_share import SECRET, db_rows, run_share, write_partners

pytestmark = pytest.mark.usefixtures("prefect_harness")

LEADS = (
    "email,first_name,last_name,company,country,phone,consent_share,lead_source\n"
    "a.one@example.com,Ann,One,One Corp,US,(202) 555-0141,yes,referral\n"
    "b.two@example.com,Bob,Two,Two Corp,US,(202) 555-0142,yes,referral\n"
)


@pytest.fixture
def case(shared_dir) -> dict:
    return json.loads((shared_dir / "cases/B30/expected.json").read_text())


def _run_with_slack(home, monkeypatch, slack: LocalEndpoint):
    """Run the flow (one retry) on two leads, with a webhook partner and ``slack``.

    Returns the flow's final state and the partner endpoint.
    """
    from flows.share import share_leads

    (home / "inbox" / "generic").mkdir(parents=True)
    (home / "inbox" / "generic" / "two.csv").write_text(LEADS, encoding="utf-8")
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    with LocalEndpoint(secret=SECRET) as partner, slack:
        write_partners(home, partner.url, hook_capacity=1000)
        monkeypatch.setenv("TEST_SLACK_URL", slack.url)
        monkeypatch.setenv("LEADSHARE_SLACK_WEBHOOK", "env:TEST_SLACK_URL")
        state = share_leads.with_options(retries=1, retry_delay_seconds=0)(
            return_state=True
        )
    return state, partner


def test_flow_retry_after_slack_failure_posts_once(home, monkeypatch, case):
    # Slack returns 503 until its client gives up (3 tries), then 200 on the flow retry.
    slack = LocalEndpoint(script=[503, 503, 503])
    state, partner = _run_with_slack(home, monkeypatch, slack)

    assert state.is_completed()
    assert len(partner.requests) == case["scenario_A"]["http_posts_to_partner"]
    assert len(partner.accepted_ids) == 2
    assert [r.status for r in slack.requests].count(200) == case["scenario_A"][
        "slack_summaries_posted"
    ]
    ledger = db_rows(home, "select partner_id, count(*) from transfers group by 1")
    assert ledger == [("P-HOOK", 2)]


def test_task_retry_after_read_timeout_reuses_message_id(
    home, monkeypatch, tmp_path, case
):
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    monkeypatch.setenv("LEADSHARE_HTTP_TIMEOUT_S", "0.5")
    source = tmp_path / "one.csv"
    source.write_text(
        LEADS.splitlines()[0] + "\n" + LEADS.splitlines()[1] + "\n", encoding="utf-8"
    )
    # The partner accepts the first POST but responds after our read timeout.
    with LocalEndpoint(script=[Reply(200, delay_s=1.5)], secret=SECRET) as partner:
        write_partners(home, partner.url, hook_capacity=1000)
        summary = run_share(home, "generic", source)

    ids = [request.headers["webhook-id"] for request in partner.requests]
    assert summary["outcomes"]["shared"] == 1
    assert len(ids) <= case["scenario_B"]["http_posts_to_partner_max"]
    assert len(set(ids)) == 1
    assert partner.accepted_ids == ids[:1]


def test_slack_down_run_still_completes(home, monkeypatch):
    # Slack fails on both attempts: the retry delivers nothing twice, and the
    # last attempt completes with the summary instead of failing on Slack.
    slack = LocalEndpoint(default=503)
    state, partner = _run_with_slack(home, monkeypatch, slack)

    assert state.is_completed()
    summary = state.result()
    assert summary["rows_in"] == 2
    assert summary["outcomes"]["shared"] == 2
    assert len(partner.accepted_ids) == 2
    assert len(set(partner.accepted_ids)) == 2
    assert {request.status for request in slack.requests} == {503}


def test_slack_rate_limit_not_retried(home, monkeypatch):
    # A Retry-After beyond the client's wait drops the post at once, and the
    # task does not try again 5 s later.
    slack = LocalEndpoint(default=Reply(429, {"Retry-After": "3600"}))
    state, partner = _run_with_slack(home, monkeypatch, slack)

    assert state.is_completed()
    assert len(partner.accepted_ids) == 2
    assert [request.status for request in slack.requests] == [429]


def test_unset_slack_variable_keeps_deliveries(home, monkeypatch):
    from flows.share import share_leads

    (home / "inbox" / "generic").mkdir(parents=True)
    (home / "inbox" / "generic" / "two.csv").write_text(LEADS, encoding="utf-8")
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    monkeypatch.delenv("TEST_SLACK_URL", raising=False)
    monkeypatch.setenv("LEADSHARE_SLACK_WEBHOOK", "env:TEST_SLACK_URL")
    with LocalEndpoint(secret=SECRET) as partner:
        write_partners(home, partner.url, hook_capacity=1000)
        state = share_leads.with_options(retries=0)(return_state=True)

    assert state.is_completed()
    assert len(partner.accepted_ids) == 2


def test_unset_slack_variable_logged_once(home, monkeypatch, caplog):
    from leadshare.runtime import build_context
    from tasks.transfer import slack_client

    monkeypatch.delenv("TEST_SLACK_URL", raising=False)
    monkeypatch.setenv("LEADSHARE_SLACK_WEBHOOK", "env:TEST_SLACK_URL")
    ctx = build_context()
    assert slack_client(ctx) is None
    assert slack_client(ctx) is None
    assert caplog.text.count("Slack is not used in run") == 1
    assert "TEST_SLACK_URL" in caplog.text
