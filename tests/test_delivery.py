"""The outbox: retries on a growing schedule, 410 Gone, allowlists, file batches."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from httpserver import LocalEndpoint, Reply
from test_filedrop import read_only_folder
from test_flow_share import SECRET
from test_store import duckdb_file_held

from leadshare.config import Partner
from leadshare.delivery import deliver_partner, record_journals
from leadshare.errors import LeadshareError, RetryableDeliveryError, StoreError
from leadshare.failed_transfers import retry_failed, retry_text
from leadshare.settings import Settings
from leadshare.slack import FakeSlackClient, SlackPostError
from leadshare.store import open_store
from leadshare.transfer.journal import SentJournal
from leadshare.transfer.webhook import FakeWebhookClient, WebhookClient

NOW = dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC)
FIELDS = ["lead_id", "first_name", "company"]
MANUAL_IDS = {"transfer_id", "partner_id", "run_id", "handed_off_at"}
"""Keys that every manual-queue line carries besides the allowlisted fields."""


@pytest.fixture
def store(tmp_path):
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    with store.transaction() as tx:
        for index in range(3):
            lead_id = f"L-{index}"
            tx.connection.exec_driver_sql(
                "insert into leads (lead_id, file_id, source_row, profile, first_name, last_name, "
                f"company, email, created_at) values ('{lead_id}', 'f', {index + 1}, 'generic', "
                f"'Ann{index}', 'Secret{index}', 'Corp {index}', 'ann{index}@corp.example', now())"
            )
            tx.execute(
                "add_transfer",
                transfer_id=f"msg_{index}",
                lead_id=lead_id,
                partner_id="P-X",
                channel="webhook",
                created_at=NOW,
                run_id="r1",
            )
    return store


def _partner(url: str, channel: str = "webhook") -> Partner:
    hook = (
        {"url": url, "secret": "env:TEST_PARTNER_SECRET"}
        if channel == "webhook"
        else None
    )
    return Partner(
        id="P-X",
        name="X",
        capacity_per_day=10,
        capacity_per_week=10,
        channel=channel,
        webhook=hook,
        fields=FIELDS,
    )


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_PARTNER_SECRET", SECRET)
    return Settings(home=tmp_path / "home", http_attempts=2, http_timeout_s=2)


def _fixed_clock(moment: dt.datetime):
    """Return a clock that always reads ``moment``, for exact retry times."""
    return lambda: moment


def _statuses(store) -> list[tuple]:
    with store.transaction() as tx:
        return tx.connection.exec_driver_sql(
            "select transfer_id, status, attempts, next_attempt_at from transfers order by 1"
        ).fetchall()


def test_only_allowlisted_fields_leave(store, settings):
    with LocalEndpoint(secret=SECRET) as endpoint:
        summary = deliver_partner(store, settings, _partner(endpoint.url), NOW)
    bodies = [json.loads(request.body) for request in endpoint.requests]
    assert summary.sent == 3
    assert all(set(body["lead"]) == set(FIELDS) for body in bodies)
    assert all(
        b"Secret" not in request.body and b"@corp" not in request.body
        for request in endpoint.requests
    )


def test_failed_delivery_waits_then_retries_same_id(store, settings):
    with LocalEndpoint(script=[500] * 6, secret=SECRET) as endpoint:
        partner = _partner(endpoint.url)
        first = deliver_partner(
            store, settings, partner, NOW, clock=_fixed_clock(NOW)
        )
        too_early = deliver_partner(
            store, settings, partner, NOW + dt.timedelta(seconds=1)
        )
        later = deliver_partner(
            store, settings, partner, NOW + dt.timedelta(seconds=6)
        )

    assert first.retry_later == 3
    assert too_early.due == 0
    assert later.sent == 3
    ids = [request.headers["webhook-id"] for request in endpoint.requests]
    assert sorted(set(ids)) == ["msg_0", "msg_1", "msg_2"]
    assert sorted(endpoint.accepted_ids) == ["msg_0", "msg_1", "msg_2"]


def test_schedule_grows_after_each_failure(store, settings):
    second_run = NOW + dt.timedelta(seconds=6)
    with LocalEndpoint(default=503, secret=SECRET) as endpoint:
        partner = _partner(endpoint.url)
        deliver_partner(store, settings, partner, NOW, clock=_fixed_clock(NOW))
        deliver_partner(
            store, settings, partner, second_run, clock=_fixed_clock(second_run)
        )
    rows = _statuses(store)
    assert all(status == "pending" for _, status, _, _ in rows)
    # Two sends of two HTTP attempts each; the schedule counts the sends.
    assert all(attempts == 4 for _, _, attempts, _ in rows)
    delay = rows[0][3].astimezone(dt.UTC) - second_run
    assert delay == dt.timedelta(minutes=5)


def test_gone_disables_endpoint_once_and_keeps_pending(store, settings):
    slack = FakeSlackClient()
    with LocalEndpoint(default=410, secret=SECRET) as endpoint:
        first = deliver_partner(
            store, settings, _partner(endpoint.url), NOW, slack=slack
        )
        second = deliver_partner(
            store, settings, _partner(endpoint.url), NOW, slack=slack
        )

    assert len(endpoint.requests) == 1
    assert first.waiting == 3
    assert second.waiting == 3
    assert len(slack.messages) == 1
    assert "410" in slack.messages[0].text
    assert [status for _, status, _, _ in _statuses(store)] == ["pending"] * 3
    # The summaries name the held endpoint and the fix, so `share` exits with 1.
    assert first.error == slack.messages[0].text
    assert second.error.startswith(
        "the endpoint of partner P-X has been disabled since 2026-"
    )
    assert "HTTP 410" in second.error
    assert "run `leadshare endpoint enable P-X`" in second.error


def test_gone_with_slack_down_still_disables(store, settings, caplog):
    slack = FakeSlackClient(fail_with=SlackPostError("Slack answered 503"))
    with LocalEndpoint(default=410, secret=SECRET) as endpoint:
        summary = deliver_partner(
            store, settings, _partner(endpoint.url), NOW, slack=slack
        )

    assert summary.waiting == 3
    assert store.rows("disabled_endpoints")[0]["partner_id"] == "P-X"
    assert "410 Gone" in caplog.text
    assert "Slack alert for partner P-X not posted" in caplog.text


ROTATED_SECRET = "whsec_" + "cm90YXRlZC1vbi1vbmUtc2lkZS1vbmx5LXNlY3JldA=="


def test_wrong_secret_holds_then_enable_resends(store, settings, caplog):
    slack = FakeSlackClient()
    # The partner verifies with a secret rotated on its side only: every POST is 401.
    with LocalEndpoint(secret=ROTATED_SECRET) as rejecting:
        partner = _partner(rejecting.url)
        first = deliver_partner(store, settings, partner, NOW, slack=slack)
        second = deliver_partner(store, settings, partner, NOW, slack=slack)
    rows = _statuses(store)
    disabled = store.rows("disabled_endpoints")

    assert len(rejecting.requests) == 1
    assert first.failed == 0
    assert first.waiting == 3
    assert second.waiting == 3
    assert [status for _, status, _, _ in rows] == ["pending"] * 3
    assert [attempts for _, _, attempts, _ in rows] == [1, 0, 0]
    assert [row["partner_id"] for row in disabled] == ["P-X"]
    assert "HTTP 401" in disabled[0]["reason"]
    assert "authentication failed" in disabled[0]["reason"]
    assert "env:TEST_PARTNER_SECRET" in disabled[0]["reason"]
    alerts = [
        record.getMessage()
        for record in caplog.records
        if "authentication failed" in record.getMessage()
    ]
    assert len(alerts) == 1
    assert "signing secret env:TEST_PARTNER_SECRET" in alerts[0]
    assert "leadshare endpoint enable P-X" in alerts[0]
    assert len(slack.messages) == 1
    assert slack.messages[0].text == alerts[0]
    for text in [disabled[0]["reason"], alerts[0], *caplog.messages]:
        assert SECRET not in text
        assert SECRET.removeprefix("whsec_") not in text

    with store.transaction() as tx:
        tx.execute("enable_endpoint", partner_id="P-X")
    with LocalEndpoint(secret=SECRET) as accepting:
        resumed = deliver_partner(store, settings, _partner(accepting.url), NOW)

    assert resumed.sent == 3
    assert accepting.accepted_ids == ["msg_0", "msg_1", "msg_2"]
    # The stored payload goes again, so the partner receives the same message.
    assert accepting.requests[0].body == rejecting.requests[0].body


def test_forbidden_holds_like_unauthorized(store, settings):
    with LocalEndpoint(default=403, secret=SECRET) as endpoint:
        summary = deliver_partner(store, settings, _partner(endpoint.url), NOW)

    assert len(endpoint.requests) == 1
    assert summary.waiting == 3
    assert summary.failed == 0
    assert {status for _, status, _, _ in _statuses(store)} == {"pending"}
    assert "HTTP 403" in store.rows("disabled_endpoints")[0]["reason"]


def test_client_error_fails_without_retry(store, settings):
    with LocalEndpoint(default=422, secret=SECRET) as endpoint:
        summary = deliver_partner(store, settings, _partner(endpoint.url), NOW)
    assert summary.failed == 3
    assert len(endpoint.requests) == 3
    assert {status for _, status, _, _ in _statuses(store)} == {"failed"}


def test_failed_transfers_sent_again_on_request(store, settings):
    with store.transaction() as tx:
        tx.connection.exec_driver_sql(
            "update leads set email_key = email where lead_id = 'L-2'"
        )
    with LocalEndpoint(default=422, secret=SECRET) as endpoint:
        deliver_partner(store, settings, _partner(endpoint.url), NOW)
    with store.transaction() as tx:
        tx.connection.exec_driver_sql(
            "insert into suppression values "
            "('ann2@corp.example', 'email', 'opted out', 'test', now())"
        )

    by_lead = retry_failed(store, None, ["L-0"])
    rest = retry_failed(store, "P-X", [])
    again = retry_failed(store, "P-X", [])
    with LocalEndpoint(secret=SECRET) as endpoint:
        later = deliver_partner(
            store, settings, _partner(endpoint.url), NOW + dt.timedelta(minutes=1)
        )

    assert by_lead.by_partner == {"P-X": 1}
    assert rest.by_partner == {"P-X": 1}
    assert rest.opted_out == 1
    assert retry_text(again) == (
        "No failed transfer matches; nothing to do. 1 failed transfer stays failed, "
        "because the person opted out since."
    )
    assert later.sent == 2
    assert sorted(endpoint.accepted_ids) == ["msg_0", "msg_1"]
    assert [status for _, status, _, _ in _statuses(store)] == [
        "sent",
        "sent",
        "failed",
    ]
    with pytest.raises(LeadshareError, match="lead L-9 has no transfer"):
        retry_failed(store, None, ["L-9"])


def test_counts_name_sending_run(store, settings):
    # run-A started first, like a retried run that waits between its attempts.
    with store.transaction() as tx:
        for run_id in ("run-A", "run-B"):
            tx.connection.exec_driver_sql(
                "insert into runs (run_id, started_at, status) "
                f"values ('{run_id}', now() - interval 1 hour, 'running')"
            )

    with LocalEndpoint(script=[422], secret=SECRET) as endpoint:
        summary = deliver_partner(
            store, settings, _partner(endpoint.url), NOW, run_id="run-B"
        )
    by_run = {
        run_id: store.rows("transfer_counts", run_id=run_id)[0]
        for run_id in ("run-A", "run-B")
    }

    assert (summary.sent, summary.failed) == (2, 1)
    assert (by_run["run-B"]["sent"], by_run["run-B"]["failed"]) == (2, 1)
    assert (by_run["run-A"]["sent"], by_run["run-A"]["failed"]) == (0, 0)


def test_file_drop_batch_written_once(store, settings):
    partner = _partner("", channel="file_drop")
    deliver_partner(store, settings, partner, NOW)
    again = deliver_partner(store, settings, partner, NOW)
    files = list((settings.outbox / "file_drop" / "P-X").glob("*.csv"))
    assert len(files) == 1
    assert again.due == 0
    assert files[0].read_text().count("\n") == 4


def _wait_then_resume(store, settings, partner, blocker: Path, caplog):
    """Deliver while ``blocker`` is in the way, remove it and deliver again.

    Checks that the first delivery left the three transfers pending with one log
    line naming ``blocker``, and that the second sent them. Returns both summaries.
    """
    blocked = deliver_partner(store, settings, partner, NOW)
    rows = _statuses(store)
    blocker.unlink()
    resumed = deliver_partner(store, settings, partner, NOW)

    assert blocked.sent == 0
    assert blocked.waiting == 3
    assert [status for _, status, _, _ in rows] == ["pending"] * 3
    lines = [r.getMessage() for r in caplog.records if str(blocker) in r.getMessage()]
    assert len(lines) == 1
    assert "P-X: 3 transfers wait for the next run" in lines[0]
    assert resumed.sent == 3
    assert resumed.error is None
    return blocked, resumed


@pytest.mark.parametrize("channel", ["file_drop", "crm_export", "manual"])
def test_file_in_place_of_folder_waits(store, settings, caplog, channel):
    partner = _partner("", channel="file_drop").model_copy(
        update={"channel": channel, "crm_owner_id": "OWN-1"}
    )
    folder = settings.outbox / channel / "P-X"
    folder.parent.mkdir(parents=True)
    folder.write_text("not a folder", encoding="utf-8")

    blocked, _ = _wait_then_resume(store, settings, partner, folder, caplog)

    assert f"outbox folder {folder} cannot be created" in blocked.error
    assert "move that file away" in blocked.error
    assert len(list(folder.iterdir())) == 1


def test_unreadable_manual_queue_waits(store, settings, caplog):
    partner = _partner("", channel="file_drop").model_copy(update={"channel": "manual"})
    queue = settings.outbox / "manual" / "P-X" / "manual_handoff.jsonl"
    queue.parent.mkdir(parents=True)
    queue.write_text("handed over by phone\n", encoding="utf-8")

    blocked, _ = _wait_then_resume(store, settings, partner, queue, caplog)

    assert blocked.error.startswith(f"{queue}, line 1: ")
    assert len(queue.read_text(encoding="utf-8").splitlines()) == 3


def test_read_only_folder_waits(store, settings):
    partner = _partner("", channel="file_drop")
    folder = settings.outbox / "file_drop" / "P-X"
    with read_only_folder(folder):
        blocked = deliver_partner(store, settings, partner, NOW)
        rows = _statuses(store)
    resumed = deliver_partner(store, settings, partner, NOW)

    assert blocked.sent == 0
    assert blocked.waiting == 3
    assert f"outbox folder {folder} is not writable" in blocked.error
    assert [status for _, status, _, _ in rows] == ["pending"] * 3
    assert resumed.sent == 3
    # The rerun writes the batch stamped in the blocked run: one file, no second.
    assert len(list(folder.glob("*.csv"))) == 1


@pytest.mark.parametrize(
    "change", [{"status": "paused"}, {"agreement_expires": dt.date(2026, 12, 3)}]
)
def test_inactive_partner_gets_nothing(store, settings, change):
    with LocalEndpoint(secret=SECRET) as endpoint:
        inactive = _partner(endpoint.url).model_copy(update=change)
        on_hold = deliver_partner(store, settings, inactive, NOW)
        assert endpoint.requests == []
        assert on_hold.waiting == 3
        assert on_hold.waiting_reason.startswith("the partner is inactive (")
        assert on_hold.sent == 0
        assert [row[1] for row in _statuses(store)] == ["pending"] * 3
        # Active again, the partner receives what waited.
        resumed = deliver_partner(store, settings, _partner(endpoint.url), NOW)
    assert resumed.sent == 3
    assert len(endpoint.requests) == 3


def test_bad_gzip_200_marks_all_sent(store, settings):
    reply = Reply(200, {"Content-Encoding": "gzip"}, body=b"not gzip at all")
    with LocalEndpoint(default=reply, secret=SECRET) as endpoint:
        summary = deliver_partner(store, settings, _partner(endpoint.url), NOW)
    assert summary.sent == 3
    assert len(endpoint.requests) == 3
    assert endpoint.duplicates == 0
    assert {status for _, status, _, _ in _statuses(store)} == {"sent"}


def test_unexpected_error_keeps_acknowledged_sends(store, settings):
    sender = FakeWebhookClient(script=[200, RuntimeError("unexpected")])
    with pytest.raises(RuntimeError):
        deliver_partner(
            store, settings, _partner("http://127.0.0.1:9/hook"), NOW, sender=sender
        )
    statuses = [status for _, status, _, _ in _statuses(store)]
    assert statuses == ["sent", "pending", "pending"]


def test_redirect_keeps_pending_and_stops(store, settings, caplog):
    reply = Reply(308, {"Location": "https://moved.example/hook"})
    with LocalEndpoint(default=reply, secret=SECRET) as endpoint:
        summary = deliver_partner(store, settings, _partner(endpoint.url), NOW)
    rows = _statuses(store)
    assert len(endpoint.requests) == 1
    assert summary.retry_later == 1
    assert summary.waiting == 2
    assert summary.failed == 0
    # A moved URL needs a fix in partners.yaml, so the command exits with code 1.
    assert summary.error == (
        "the webhook URL redirects (HTTP 308) to https://moved.example (path not "
        "shown); update it in partners.yaml"
    )
    assert summary.waiting_reason == summary.error
    assert [status for _, status, _, _ in rows] == ["pending"] * 3
    assert [attempts for _, _, attempts, _ in rows] == [1, 0, 0]
    redirect_lines = [r.message for r in caplog.records if "308" in r.message]
    assert len(redirect_lines) == 1
    assert "P-X" in redirect_lines[0]
    assert "https://moved.example (path not shown)" in redirect_lines[0]
    assert "partners.yaml" in redirect_lines[0]


@pytest.mark.parametrize(
    "reply", [Reply(410), Reply(429, {"Retry-After": "3600"})], ids=["410", "429"]
)
def test_channel_change_ends_webhook_hold(store, settings, reply, caplog):
    with LocalEndpoint(default=reply, secret=SECRET) as endpoint:
        deliver_partner(
            store, settings, _partner(endpoint.url), NOW, clock=_fixed_clock(NOW)
        )
    later = NOW + dt.timedelta(minutes=1)

    with caplog.at_level(logging.INFO, logger="leadshare.delivery"):
        moved = deliver_partner(store, settings, _partner("", "file_drop"), later)

    assert moved.sent == 3
    assert moved.error is None
    assert store.rows("disabled_endpoints") == []
    assert store.rows("endpoint_backoff", partner_id="P-X", now=later) == []
    assert "delivers by file_drop now" in caplog.text


def test_run_between_retries_names_the_wait(store, settings, caplog):
    idle = _partner("http://127.0.0.1:9/leads")
    with LocalEndpoint(script=[500, 500], secret=SECRET) as endpoint:
        deliver_partner(
            store, settings, _partner(endpoint.url), NOW, clock=_fixed_clock(NOW)
        )
    later = NOW + dt.timedelta(seconds=1)

    between = deliver_partner(store, settings, idle, later)
    reply = Reply(429, {"Retry-After": "600"})
    with LocalEndpoint(default=reply, secret=SECRET) as endpoint:
        third = NOW + dt.timedelta(seconds=10)
        deliver_partner(
            store, settings, _partner(endpoint.url), third, clock=_fixed_clock(third)
        )
    with caplog.at_level(logging.INFO, logger="leadshare.delivery"):
        backing_off = deliver_partner(
            store, settings, idle, third + dt.timedelta(seconds=1)
        )

    assert between.due == 0
    assert between.waiting == 1
    assert between.waiting_reason == (
        "earlier sends failed; the next attempt is at 2026-12-04T10:00:05Z"
    )
    assert backing_off.waiting == 1
    assert backing_off.waiting_reason.startswith(
        "the endpoint is backing off until 2026-12-04T10:10:10Z"
    )
    assert "Partner P-X: 1 transfer waits: the endpoint is backing off" in caplog.text


def test_429_stops_the_batch(store, settings):
    reply = Reply(429, {"Retry-After": "120"})
    with LocalEndpoint(default=reply, secret=SECRET) as endpoint:
        summary = deliver_partner(
            store, settings, _partner(endpoint.url), NOW, clock=_fixed_clock(NOW)
        )
    rows = _statuses(store)
    assert len(endpoint.requests) == 1
    assert summary.retry_later == 1
    assert summary.waiting == 2
    assert summary.waiting_reason == (
        "the endpoint returned 429 Too Many Requests; next attempt at "
        "2026-12-04T10:02:00Z"
    )
    assert [status for _, status, _, _ in rows] == ["pending"] * 3
    later = NOW + dt.timedelta(seconds=120)
    # The Retry-After holds for the whole batch, with no attempt counted for the rest.
    assert [row[3].astimezone(dt.UTC) for row in rows] == [later] * 3
    assert [attempts for _, _, attempts, _ in rows] == [1, 0, 0]


def test_retry_after_counts_from_429(store, settings):
    # The first send takes longer than the Retry-After, as in a run where slow
    # webhooks went before the 429. The run right after must not send msg_2.
    slow = Reply(200, delay_s=2.5)
    too_many = Reply(429, {"Retry-After": "2"})
    with LocalEndpoint(script=[slow, too_many], secret=SECRET) as endpoint:
        partner = _partner(endpoint.url)
        sender = WebhookClient(endpoint.url, SECRET, attempts=1, max_wait_s=1)
        with sender:
            started = dt.datetime.now(dt.UTC)
            first = deliver_partner(store, settings, partner, started, sender=sender)
            answered = dt.datetime.now(dt.UTC)
            again = deliver_partner(store, settings, partner, answered, sender=sender)

    assert first.sent == 1
    assert first.retry_later == 1
    assert first.waiting == 1
    assert again.due == 0
    assert len(endpoint.requests) == 2
    deferred = _statuses(store)[2][3].astimezone(dt.UTC)
    assert deferred >= started + dt.timedelta(seconds=2.5 + 2)
    assert deferred <= answered + dt.timedelta(seconds=2)


def test_retry_time_counts_from_failure(store, settings):
    # The run started at NOW, and the connection failed 9 s later.
    reset = RetryableDeliveryError("connection failed (ConnectError)")
    sender = FakeWebhookClient(script=[reset])
    failed_at = NOW + dt.timedelta(seconds=9)
    url = "http://127.0.0.1:9/hook"

    clock = _fixed_clock(failed_at)
    deliver_partner(store, settings, _partner(url), NOW, sender=sender, clock=clock)
    too_early = deliver_partner(
        store, settings, _partner(url), NOW + dt.timedelta(seconds=6), sender=sender
    )

    rows = _statuses(store)
    assert rows[0][3].astimezone(dt.UTC) == failed_at + dt.timedelta(seconds=5)
    assert too_early.due == 0
    assert sender.message_ids == ["msg_0", "msg_1", "msg_2"]


def test_429_defers_rest_from_failure(store, settings):
    too_many = RetryableDeliveryError("HTTP 429", status=429, retry_after_s=60)
    sender = FakeWebhookClient(script=[200, too_many])
    failed_at = NOW + dt.timedelta(seconds=75)

    deliver_partner(
        store,
        settings,
        _partner("http://127.0.0.1:9/hook"),
        NOW,
        sender=sender,
        clock=_fixed_clock(failed_at),
    )

    rows = _statuses(store)
    later = failed_at + dt.timedelta(seconds=60)
    assert [row[1] for row in rows] == ["sent", "pending", "pending"]
    assert rows[1][3].astimezone(dt.UTC) == later
    assert rows[2][3].astimezone(dt.UTC) == later
    assert [row[2] for row in rows] == [1, 1, 0]


def _last_try_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "last try" in r.getMessage()]


def test_last_try_logged_with_next_attempt(store, settings, caplog):
    # The partner echoes lead data in its error body, which the log must not show.
    echo = Reply(503, body=b"ann0@corp.example Ann0 Secret0 down")
    with LocalEndpoint(default=echo, secret=SECRET) as endpoint:
        partner = _partner(endpoint.url + "?token=abc123")
        deliver_partner(store, settings, partner, NOW, clock=_fixed_clock(NOW))

    records = _last_try_lines(caplog)
    assert len(records) == 3
    assert all(record.levelno == logging.WARNING for record in records)
    first = records[0].getMessage()
    assert "P-X" in first
    assert "msg_0" in first
    assert "HTTP 503" in first
    assert "next attempt at 2026-12-04T10:00:05Z" in first
    for record in records:
        text = record.getMessage()
        assert "Ann0" not in text
        assert "corp.example" not in text
        assert "Secret0" not in text
        assert "token" not in text
        assert "/hook" not in text


@pytest.mark.parametrize(
    ("seconds_per_send", "expected"),
    [
        (1, "3 failed sends in a row; next attempt at 2026-12-04T10:00:05Z"),
        (4, "3 failed sends in a row; the next run tries again"),
    ],
)
def test_back_off_names_next_try(store, settings, caplog, seconds_per_send, expected):
    # Each send takes its time, so the first failure's retry may pass before the third.
    reset = RetryableDeliveryError("connection failed (ConnectError)")
    sender = FakeWebhookClient(script=[reset, reset, reset])
    ticks = iter(range(100))

    def clock() -> dt.datetime:
        return NOW + dt.timedelta(seconds=seconds_per_send * next(ticks))

    partner = _partner("http://127.0.0.1:9/hook")
    summary = deliver_partner(
        store, settings, partner, NOW, sender=sender, clock=clock
    )
    messages = [record.getMessage() for record in caplog.records]
    warnings = [message for message in messages if "in a row" in message]

    assert summary.waiting_reason == expected
    assert len(warnings) == 1
    assert expected in warnings[0]
    assert "3 transfers of this run wait for it" in warnings[0]


def test_last_try_transport_error_logged(store, settings, caplog):
    reset = RetryableDeliveryError("connection failed (ConnectError)")
    sender = FakeWebhookClient(script=[reset])
    partner = _partner("http://127.0.0.1:9/hook")

    deliver_partner(
        store, settings, partner, NOW, sender=sender, clock=_fixed_clock(NOW)
    )

    records = _last_try_lines(caplog)
    assert len(records) == 1
    assert "msg_0" in records[0].getMessage()
    assert "connection failed (ConnectError)" in records[0].getMessage()
    assert "next attempt at 2026-12-04T10:00:05Z" in records[0].getMessage()


def test_rejected_send_logged_as_final(store, settings, caplog):
    with LocalEndpoint(default=422, secret=SECRET) as endpoint:
        deliver_partner(store, settings, _partner(endpoint.url), NOW)

    records = _last_try_lines(caplog)
    assert [r.getMessage().split()[3] for r in records] == ["msg_0", "msg_1", "msg_2"]
    assert all(record.levelno == logging.ERROR for record in records)
    assert all("HTTP 422" in record.getMessage() for record in records)
    assert all("failed for good" in record.getMessage() for record in records)


def test_failure_lines_capped_per_run(store, settings, caplog, monkeypatch):
    from leadshare import delivery

    monkeypatch.setattr(delivery, "MAX_LOGGED_FAILURES", 2)
    sender = FakeWebhookClient(script=[422, 422, 422])

    deliver_partner(
        store, settings, _partner("http://127.0.0.1:9/hook"), NOW, sender=sender
    )

    assert len(_last_try_lines(caplog)) == 2
    rest = [
        r.getMessage()
        for r in caplog.records
        if "not logged one by one" in r.getMessage()
    ]
    assert len(rest) == 1
    assert "P-X: 1 more failed webhook in this run" in rest[0]


def test_time_budget_leaves_rest_pending(store, settings, caplog):
    budgeted = settings.model_copy(update={"webhook_budget_s": 0.5})
    slow = Reply(200, delay_s=0.6)
    with LocalEndpoint(default=slow, secret=SECRET) as endpoint:
        summary = deliver_partner(store, budgeted, _partner(endpoint.url), NOW)
    assert summary.sent == 1
    assert summary.waiting == 2
    assert len(endpoint.requests) == 1
    assert [status for _, status, _, _ in _statuses(store)] == [
        "sent",
        "pending",
        "pending",
    ]
    budget_lines = [r.message for r in caplog.records if "delivery time" in r.message]
    assert len(budget_lines) == 1
    assert "1 sent, 2 waiting" in budget_lines[0]


def test_failing_transfer_goes_last(store, settings):
    # msg_0 failed before and is due again, and it must not hold back the two never tried.
    with store.transaction() as tx:
        tx.connection.exec_driver_sql(
            "update transfers set attempts = 4, failed_sends = 4, "
            "next_attempt_at = created_at "
            "where transfer_id = 'msg_0'"
        )
    due = store.rows("due_transfers", partner_id="P-X", now=NOW)

    assert [row["transfer_id"] for row in due] == ["msg_1", "msg_2", "msg_0"]


@pytest.fixture
def typo_template(tmp_path, monkeypatch):
    """Serve intro templates from a folder holding one that names an unknown field."""
    import functools

    from leadshare import delivery
    from leadshare.templates import render_intro

    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "typo.j2").write_text("Lead from {{ lead.comapny }}", encoding="utf-8")
    monkeypatch.setattr(
        delivery, "render_intro", functools.partial(render_intro, folder=folder)
    )
    return "typo.j2"


def test_template_with_unknown_field_fails_check(typo_template):
    from leadshare.delivery import check_intro_templates
    from leadshare.errors import ConfigError

    partner = _partner("http://127.0.0.1:9/x").model_copy(
        update={"template": typo_template}
    )
    file_drop = _partner("", channel="file_drop").model_copy(
        update={"template": typo_template}
    )

    with pytest.raises(ConfigError) as caught:
        check_intro_templates([partner])
    check_intro_templates([file_drop])

    assert "partner P-X" in str(caught.value)
    assert "comapny" in str(caught.value)
    assert "first_name" in str(caught.value)


def test_broken_template_leaves_transfers_waiting(store, settings, typo_template):
    partner = _partner("http://127.0.0.1:9/x").model_copy(
        update={"template": typo_template}
    )

    summary = deliver_partner(store, settings, partner, NOW)

    assert summary.waiting == 3
    assert summary.sent == 0
    assert "comapny" in summary.errors[0]
    assert [row[1] for row in _statuses(store)] == ["pending"] * 3


def test_malformed_secret_leaves_transfers_waiting(store, settings, monkeypatch):
    monkeypatch.setenv("TEST_PARTNER_SECRET", "whsec_not base64!")

    summary = deliver_partner(store, settings, _partner("http://127.0.0.1:9/x"), NOW)

    assert summary.waiting == 3
    assert summary.sent == 0
    assert "webhook secret is not valid" in summary.errors[0]
    assert summary.waiting_reason == summary.errors[0]
    assert "not base64!" not in summary.errors[0]
    assert [row[1] for row in _statuses(store)] == ["pending"] * 3


def test_unset_secret_is_the_partners_error(store, settings, monkeypatch):
    # The example config's webhook partner outside the demo. Its transfers wait,
    # and the row's error gives the reason, so share and run exit 1.
    monkeypatch.delenv("TEST_PARTNER_SECRET")

    summary = deliver_partner(store, settings, _partner("http://127.0.0.1:9/x"), NOW)

    assert summary.waiting == 3
    assert summary.error == summary.waiting_reason
    assert summary.waiting_reason == (
        "secret reference 'env:TEST_PARTNER_SECRET': environment variable "
        "TEST_PARTNER_SECRET is not set; export it or change the reference"
    )


def _stored_payloads(store) -> dict[str, str]:
    with store.transaction() as tx:
        rows = tx.connection.exec_driver_sql(
            "select transfer_id, payload from transfers order by 1"
        ).fetchall()
    return dict(rows)


def test_narrowed_allowlist_rebuilds_payload(store, settings, caplog):
    narrow_fields = ["lead_id", "first_name"]
    with LocalEndpoint(default=500, secret=SECRET) as failing:
        wide = _partner(failing.url).model_copy(update={"fields": [*FIELDS, "email"]})
        first = deliver_partner(store, settings, wide, NOW, clock=_fixed_clock(NOW))
    assert first.retry_later == 3
    assert all("@corp" in payload for payload in _stored_payloads(store).values())

    later = NOW + dt.timedelta(seconds=6)
    with LocalEndpoint(secret=SECRET) as endpoint:
        narrow = _partner(endpoint.url).model_copy(update={"fields": narrow_fields})
        with caplog.at_level(logging.WARNING, logger="leadshare.delivery"):
            second = deliver_partner(store, settings, narrow, later)

    assert second.sent == 3
    first_ids = sorted({request.headers["webhook-id"] for request in failing.requests})
    sent_ids = sorted(request.headers["webhook-id"] for request in endpoint.requests)
    assert sent_ids == first_ids == ["msg_0", "msg_1", "msg_2"]
    for request in endpoint.requests:
        body = json.loads(request.body)
        assert request.signature_valid is True
        assert set(body["lead"]) == set(narrow_fields)
        assert b"@corp" not in request.body
        # The default intro names the company while company is allowed.
        assert b"Corp " not in request.body
    stored = _stored_payloads(store)
    assert sorted(stored.values()) == sorted(
        request.body.decode("utf-8") for request in endpoint.requests
    )
    assert "3 stored webhook payloads rebuilt" in caplog.text


def test_unchanged_payload_kept_on_retry(store, settings):
    with LocalEndpoint(default=500, secret=SECRET) as failing:
        deliver_partner(
            store, settings, _partner(failing.url), NOW, clock=_fixed_clock(NOW)
        )
    before = _stored_payloads(store)
    later = NOW + dt.timedelta(seconds=6)
    with LocalEndpoint(secret=SECRET) as endpoint:
        deliver_partner(store, settings, _partner(endpoint.url), later)
    bodies = {
        request.headers["webhook-id"]: request.body.decode("utf-8")
        for request in endpoint.requests
    }
    assert bodies == before
    assert _stored_payloads(store) == before


def test_manual_queue_rewritten_with_allowlist(store, settings):
    """A queue line left by a run that crashed before marking it sent is replaced."""
    from leadshare.transfer.filedrop import MANUAL_HANDOFF_FILE, append_manual_handoff

    folder = settings.outbox / "manual" / "P-X"
    stale = {
        "transfer_id": "msg_0",
        "partner_id": "P-X",
        "lead_id": "L-0",
        "email": "ann0@corp.example",
    }
    append_manual_handoff(folder, [stale])

    summary = deliver_partner(store, settings, _partner("", channel="manual"), NOW)

    assert summary.sent == 3
    lines = (folder / MANUAL_HANDOFF_FILE).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [record["transfer_id"] for record in records] == ["msg_0", "msg_1", "msg_2"]
    for record in records:
        assert "email" not in record
        assert set(record) == {*FIELDS, *MANUAL_IDS}


def test_manual_queue_lines_name_run_and_time(store, settings):
    """Lines of a later run in the one queue file carry that run and time."""
    partner = _partner("", channel="manual")
    first = deliver_partner(store, settings, partner, NOW)
    with store.transaction() as tx:
        tx.connection.exec_driver_sql(
            "insert into leads (lead_id, file_id, source_row, profile, first_name, "
            "company, created_at) values ('L-9', 'g', 1, 'generic', 'Ann9', "
            "'Corp 9', now())"
        )
        tx.execute(
            "add_transfer",
            transfer_id="msg_9",
            lead_id="L-9",
            partner_id="P-X",
            channel="manual",
            created_at=NOW,
            run_id="r2",
        )
    later = NOW + dt.timedelta(hours=1)
    # msg_9 was offered in r2 (an approval command, say) and handed off by the
    # run r3: its line names r3, the run that status lists.
    second = deliver_partner(store, settings, partner, later, run_id="r3")

    assert (first.sent, second.sent) == (3, 1)
    path = settings.outbox / "manual" / "P-X" / "manual_handoff.jsonl"
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [record["transfer_id"] for record in records] == [
        "msg_0",
        "msg_1",
        "msg_2",
        "msg_9",
    ]
    assert [record["run_id"] for record in records] == ["r1", "r1", "r1", "r3"]
    times = [record["handed_off_at"] for record in records]
    assert times == [NOW.isoformat()] * 3 + [later.isoformat()]


def test_deliverable_fields_match_due_transfers(store):
    from leadshare.config import DELIVERABLE_FIELDS

    transfer_columns = {
        "transfer_id",
        "partner_id",
        "channel",
        "attempts",
        "failed_sends",
        "payload",
        "delivery_batch",
        "created_at",
        "run_id",
    }
    # Delivery reads the do-not-call flag to redact notes; it is never sent.
    read_only = {"do_not_call"}
    due = store.frame("due_transfers", partner_id="P-X", now=NOW)
    lead_columns = set(due.columns) - transfer_columns - read_only
    assert lead_columns == set(DELIVERABLE_FIELDS)
    assert not read_only & set(DELIVERABLE_FIELDS)


def test_intro_reference_is_lead_id(store, settings):
    fields = ["first_name", "company"]
    with LocalEndpoint(secret=SECRET) as endpoint:
        partner = _partner(endpoint.url).model_copy(update={"fields": fields})
        summary = deliver_partner(store, settings, partner, NOW)

    assert summary.sent == 3
    lead_ids = {"Ann0": "L-0", "Ann1": "L-1", "Ann2": "L-2"}
    for request in endpoint.requests:
        body = json.loads(request.body)
        lead_id = lead_ids[body["lead"]["first_name"]]
        assert set(body["lead"]) == set(fields)
        assert f"quote reference {lead_id} " in body["intro"]


def test_crm_row_has_lead_id(store, settings):
    partner = _partner("", channel="file_drop").model_copy(
        update={"channel": "crm_export", "crm_owner_id": "OWN-1", "fields": ["company"]}
    )

    summary = deliver_partner(store, settings, partner, NOW)

    assert summary.sent == 3
    (path,) = (settings.outbox / "crm_export" / "P-X").glob("*.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "lead_id,owner_id,partner_id,assigned_at,company"
    assert sorted(line.split(",")[0] for line in lines[1:]) == ["L-0", "L-1", "L-2"]


NOTES_WITH_PHONES = (
    "Call Dora on 030 12345678 or +44 20 7946 0958; fax 030/1234-5679. "
    "Pilot for 50 seats"
)


def _add_notes_leads(store, channel: str) -> None:
    """Add a do-not-call lead and a callable lead, both with phones in their notes."""
    import pandas as pd

    leads = pd.DataFrame(
        {
            "lead_id": ["L-DNC", "L-CALL"],
            "file_id": "f",
            "source_row": [10, 11],
            "profile": "generic",
            "first_name": ["Dora", "Carl"],
            "country": "DE",
            "notes": NOTES_WITH_PHONES,
            "do_not_call": [True, False],
            "created_at": NOW,
        }
    )
    with store.transaction() as tx:
        tx.insert_frame("leads", leads)
        for lead_id in leads["lead_id"]:
            tx.execute(
                "add_transfer",
                transfer_id=f"msg_{lead_id}",
                lead_id=lead_id,
                partner_id="P-X",
                channel=channel,
                created_at=NOW,
                run_id="r1",
            )


def _notes_by_lead(channel: str, settings, requests) -> dict[str, str]:
    """Return the notes sent per lead id, read from what the channel delivered."""
    import csv

    if channel == "webhook":
        leads = [json.loads(request.body)["lead"] for request in requests]
    elif channel == "file_drop":
        (path,) = (settings.outbox / "file_drop" / "P-X").glob("*.csv")
        with path.open(encoding="utf-8", newline="") as handle:
            leads = list(csv.DictReader(handle))
    else:
        path = settings.outbox / "manual" / "P-X" / "manual_handoff.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        leads = [json.loads(line) for line in lines]
    return {lead["lead_id"]: lead["notes"] for lead in leads}


@pytest.mark.parametrize("channel", ["webhook", "file_drop", "manual"])
def test_do_not_call_notes_lose_phones(store, settings, channel, caplog):
    from leadshare.transfer.redact import PHONE_REMOVED

    _add_notes_leads(store, channel)
    fields = ["lead_id", "notes"]
    with LocalEndpoint(secret=SECRET) as endpoint:
        partner = _partner(endpoint.url, channel=channel)
        partner = partner.model_copy(update={"fields": fields})
        with caplog.at_level(logging.INFO, logger="leadshare.delivery"):
            summary = deliver_partner(store, settings, partner, NOW)

    assert summary.sent == 5
    notes = _notes_by_lead(channel, settings, endpoint.requests)
    assert notes["L-DNC"] == (
        f"Call Dora on {PHONE_REMOVED} or {PHONE_REMOVED}; fax {PHONE_REMOVED}. "
        "Pilot for 50 seats"
    )
    assert notes["L-CALL"] == NOTES_WITH_PHONES
    assert "phone numbers removed from the notes of 1 do-not-call lead" in caplog.text


def test_do_not_call_payload_stored_redacted(store, settings):
    _add_notes_leads(store, "webhook")
    partner = _partner("http://127.0.0.1:9/hook").model_copy(
        update={"fields": ["lead_id", "notes"]}
    )

    deliver_partner(store, settings, partner, NOW, sender=FakeWebhookClient())

    stored = _stored_payloads(store)
    assert "12345678" not in stored["msg_L-DNC"]
    assert "12345678" in stored["msg_L-CALL"]


def _add_transfers(store, indexes: range, created_at: dt.datetime) -> None:
    """Add leads L-<i> with pending webhook transfers msg_<i> made at ``created_at``."""
    with store.transaction() as tx:
        for index in indexes:
            tx.connection.exec_driver_sql(
                "insert into leads (lead_id, file_id, source_row, profile, first_name, "
                f"company, created_at) values ('L-{index}', 'f', {index + 1}, "
                f"'generic', 'Ann{index}', 'Corp {index}', now())"
            )
            tx.execute(
                "add_transfer",
                transfer_id=f"msg_{index}",
                lead_id=f"L-{index}",
                partner_id="P-X",
                channel="webhook",
                created_at=created_at,
                run_id="r2",
            )


@pytest.fixture(params=["duckdb", "postgres"])
def any_store(request, tmp_path):
    """A store with the three transfers of ``store``, on DuckDB and on PostgreSQL."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = open_store(url)
    _add_transfers(store, range(3), NOW)
    return store


def test_retry_after_holds_new_transfers(any_store, settings):
    store = any_store
    too_many = Reply(429, {"Retry-After": "600"})
    window_ends = NOW + dt.timedelta(seconds=600)
    second_run = NOW + dt.timedelta(seconds=14)
    with LocalEndpoint(script=[too_many], secret=SECRET) as endpoint:
        partner = _partner(endpoint.url)
        deliver_partner(store, settings, partner, NOW, clock=_fixed_clock(NOW))
        _add_transfers(store, range(3, 5), second_run)
        in_window = deliver_partner(store, settings, partner, second_run)
        posts_in_window = len(endpoint.requests)
        before_end = deliver_partner(
            store, settings, partner, window_ends - dt.timedelta(seconds=1)
        )
        after = deliver_partner(store, settings, partner, window_ends)

    assert posts_in_window == 1
    assert in_window.waiting == 2
    assert before_end.due == 0
    assert after.sent == 5
    ids = [request.headers["webhook-id"] for request in endpoint.requests]
    assert ids == ["msg_0", "msg_0", "msg_1", "msg_2", "msg_3", "msg_4"]


def test_retry_after_moves_new_transfers(store, settings):
    too_many = RetryableDeliveryError("HTTP 429", status=429, retry_after_s=600)
    sender = FakeWebhookClient(script=[too_many])
    partner = _partner("http://127.0.0.1:9/hook")
    clock = _fixed_clock(NOW)
    deliver_partner(store, settings, partner, NOW, sender=sender, clock=clock)
    second_run = NOW + dt.timedelta(seconds=14)
    _add_transfers(store, range(3, 5), second_run)

    deliver_partner(store, settings, partner, second_run, sender=sender)

    rows = _statuses(store)
    window_ends = NOW + dt.timedelta(seconds=600)
    assert [row[1] for row in rows] == ["pending"] * 5
    assert [row[3].astimezone(dt.UTC) for row in rows] == [window_ends] * 5
    assert sender.message_ids == ["msg_0"]


def test_backoff_only_holds_webhooks(store, settings):
    too_many = RetryableDeliveryError("HTTP 429", status=429, retry_after_s=600)
    sender = FakeWebhookClient(script=[too_many])
    deliver_partner(
        store,
        settings,
        _partner("http://127.0.0.1:9/hook"),
        NOW,
        sender=sender,
        clock=_fixed_clock(NOW),
    )
    # The partner moved to a file drop: the webhook endpoint's back-off is moot.
    window_ends = NOW + dt.timedelta(seconds=600)
    summary = deliver_partner(
        store, settings, _partner("", channel="file_drop"), window_ends
    )

    assert summary.sent == 3


def test_failures_in_a_row_hold_new_transfers(store, settings):
    with LocalEndpoint(script=[500] * 6, secret=SECRET) as endpoint:
        partner = _partner(endpoint.url)
        deliver_partner(store, settings, partner, NOW, clock=_fixed_clock(NOW))
        second_run = NOW + dt.timedelta(seconds=1)
        _add_transfers(store, range(3, 4), second_run)
        in_window = deliver_partner(store, settings, partner, second_run)
        posts_while_down = len(endpoint.requests)
        later = deliver_partner(store, settings, partner, NOW + dt.timedelta(seconds=6))

    assert posts_while_down == 6
    assert in_window.waiting == 1
    assert later.sent == 4


def test_attempts_count_retries_in_send(store, settings):
    with LocalEndpoint(script=[500, 500, 200], secret=SECRET) as endpoint:
        sender = WebhookClient(endpoint.url, SECRET, attempts=3, sleep=lambda _: None)
        with sender:
            deliver_partner(store, settings, _partner(endpoint.url), NOW, sender=sender)

    rows = _statuses(store)
    assert len(endpoint.requests) == 5
    assert rows[0][1:3] == ("sent", 3)
    assert rows[1][1:3] == ("sent", 1)


def test_attempts_count_retries_of_failure(store, settings):
    with LocalEndpoint(script=[500, 500], secret=SECRET) as endpoint:
        partner = _partner(endpoint.url)
        deliver_partner(store, settings, partner, NOW, clock=_fixed_clock(NOW))

    rows = _statuses(store)
    assert len(endpoint.requests) == 4
    assert rows[0][1:3] == ("pending", 2)
    # One failed send: the next attempt follows the schedule's first step.
    assert rows[0][3].astimezone(dt.UTC) == NOW + dt.timedelta(seconds=5)


def test_gone_counts_attempt_and_error(store, settings):
    with LocalEndpoint(default=410, secret=SECRET) as endpoint:
        deliver_partner(store, settings, _partner(endpoint.url), NOW)

    transfer = store.rows("lead_transfers", lead_id="L-0")[0]
    untried = store.rows("lead_transfers", lead_id="L-1")[0]
    assert transfer["attempts"] == 1
    assert "HTTP 410" in transfer["last_error"]
    assert untried["attempts"] == 0
    assert untried["last_error"] is None


def test_sent_transfer_records_channel_used(store, settings):
    from leadshare.explain import explain_lead

    with store.transaction() as tx:
        tx.connection.exec_driver_sql(
            "insert into row_outcomes (file_id, source_row, outcome, lead_id, run_id) "
            "values ('f', 1, 'shared', 'L-0', 'r1')"
        )
    summary = deliver_partner(store, settings, _partner("", channel="file_drop"), NOW)

    transfer = store.rows("lead_transfers", lead_id="L-0")[0]
    lines = explain_lead(store, "L-0")
    assert summary.sent == 3
    assert transfer["channel"] == "file_drop"
    assert transfer["attempts"] == 1
    expected = "Transfer msg_0 to P-X via file_drop: sent after 1 attempt in all runs."
    assert expected in lines


class _HoldStoreAfter:
    """Send through ``client``, then hold the store file in another process.

    After the ``count``-th accepted send, ``duckdb_file_held`` keeps the file open
    until ``stack`` closes, so the outbox cannot record what the partner accepted.
    """

    def __init__(self, client, count: int, path: Path, stack: ExitStack) -> None:
        self.client = client
        self.count = count
        self.path = path
        self.stack = stack
        self.sends = 0

    def send(self, message_id: str, body: bytes):
        result = self.client.send(message_id, body)
        self.sends += 1
        if self.sends == self.count:
            self.stack.enter_context(duckdb_file_held(self.path, 60))
        return result


def test_store_held_at_record_sends_once(store, settings, tmp_path):
    path = tmp_path / "store.duckdb"
    impatient = open_store(f"duckdb:///{path}", wait_s=0.3)
    with LocalEndpoint(secret=SECRET) as endpoint:
        partner = _partner(endpoint.url)
        client = WebhookClient(endpoint.url, SECRET, timeout_s=2, attempts=1)
        with ExitStack() as stack:
            sender = _HoldStoreAfter(client, 3, path, stack)
            with pytest.raises(StoreError):
                deliver_partner(impatient, settings, partner, NOW, sender=sender)
        journal = SentJournal(settings.journal, "P-X")
        noted = [entry["transfer_id"] for entry in journal.entries()]

        retried = deliver_partner(store, settings, partner, NOW)
        client.close()

    assert noted == ["msg_0", "msg_1", "msg_2"]
    assert retried.due == 0
    assert endpoint.accepted_ids == ["msg_0", "msg_1", "msg_2"]
    assert endpoint.duplicates == 0
    assert [status for _, status, _, _ in _statuses(store)] == ["sent"] * 3
    assert not journal.path.exists()


KILLED_SENDER = """
import os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from test_delivery import NOW, SECRET, _partner
from leadshare.delivery import deliver_partner
from leadshare.settings import Settings
from leadshare.store import open_store
from leadshare.transfer.webhook import WebhookClient

url, store_path, home = sys.argv[2:5]
client = WebhookClient(url, SECRET, timeout_s=2, attempts=1)


class KilledOnThirdSend:
    sends = 0

    def send(self, message_id, body):
        self.sends += 1
        if self.sends == 3:
            os._exit(77)
        return client.send(message_id, body)


deliver_partner(
    open_store(f"duckdb:///{store_path}"),
    Settings(home=Path(home)),
    _partner(url),
    NOW,
    sender=KilledOnThirdSend(),
)
"""


def test_killed_mid_batch_sends_once(store, settings, tmp_path):
    tests = Path(__file__).resolve().parent
    with LocalEndpoint(secret=SECRET) as endpoint:
        killed = subprocess.run(
            [
                sys.executable,
                "-c",
                KILLED_SENDER,
                str(tests),
                endpoint.url,
                str(tmp_path / "store.duckdb"),
                str(settings.home),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        before = [status for _, status, _, _ in _statuses(store)]

        rerun = deliver_partner(store, settings, _partner(endpoint.url), NOW)

    assert killed.returncode == 77, killed.stderr[-2000:]
    assert before == ["pending"] * 3
    assert (rerun.due, rerun.sent) == (1, 1)
    assert endpoint.accepted_ids == ["msg_0", "msg_1", "msg_2"]
    assert endpoint.duplicates == 0
    assert [status for _, status, _, _ in _statuses(store)] == ["sent"] * 3


def _journal_listing(
    settings, partner_id: str, transfer_id: str, attempts: int
) -> SentJournal:
    """Write a journal of ``partner_id`` that lists one accepted send of run r0."""
    journal = SentJournal(settings.journal, partner_id)
    journal.open()
    journal.append(
        {
            "transfer_id": transfer_id,
            "sent_at": NOW,
            "attempts": attempts,
            "channel": "webhook",
            "run_id": "r0",
        }
    )
    journal.close()
    return journal


def test_journal_torn_line_skipped(store, settings, caplog):
    journal = _journal_listing(settings, "P-X", "msg_0", attempts=1)
    valid = journal.path.read_text(encoding="utf-8").strip()
    edited = [
        valid.replace('"attempts":1', '"attempts":"abc"'),
        valid.replace('"run_id":"r0"', '"run_id":7'),
        valid.replace("+00:00", ""),
        "[1, 2]",
        "",
    ]
    with journal.path.open("ab") as handle:
        handle.write("\n".join(edited).encode("utf-8") + b"\n")
        handle.write(b'{"transfer_id":"msg_1","sent')

    with LocalEndpoint(secret=SECRET) as endpoint:
        summary = deliver_partner(store, settings, _partner(endpoint.url), NOW)

    assert summary.sent == 2
    assert endpoint.accepted_ids == ["msg_1", "msg_2"]
    for number in (2, 3, 4, 5, 7):
        message = f"{journal.path}: line {number} is not a complete journal entry"
        assert message in caplog.text
    assert f"{journal.path}: line 6 " not in caplog.text
    assert not journal.path.exists()


def test_unwritable_journal_named_in_summary(store, settings):
    with read_only_folder(settings.journal):
        with LocalEndpoint(secret=SECRET) as endpoint:
            summary = deliver_partner(store, settings, _partner(endpoint.url), NOW)

    assert endpoint.requests == []
    assert summary.waiting == 3
    assert summary.error.startswith(f"webhook journal {settings.journal / 'P-X.jsonl'}")


def test_journal_of_removed_partner_recorded(store, settings):
    journal = _journal_listing(settings, "P-RENAMED", "msg_1", attempts=2)

    recorded = record_journals(store, settings)

    assert recorded == 1
    assert _statuses(store)[1][:3] == ("msg_1", "sent", 2)
    assert not journal.path.exists()


def test_unreadable_journal_holds_sends(store, settings, caplog):
    settings.journal.mkdir(parents=True)
    (settings.journal / "P-X.jsonl").mkdir()

    with LocalEndpoint(secret=SECRET) as endpoint:
        summary = deliver_partner(store, settings, _partner(endpoint.url), NOW)

    assert endpoint.requests == []
    assert summary.waiting == 3
    assert f"webhook journal {settings.journal / 'P-X.jsonl'}" in summary.error
    assert "writable folder" in summary.error
    assert [status for _, status, _, _ in _statuses(store)] == ["pending"] * 3
