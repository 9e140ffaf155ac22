"""Slack client against a local fake incoming webhook; the fake Slack client."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from httpserver import LocalEndpoint, Reply

from leadshare.errors import ConfigError
from leadshare.slack import (
    FakeSlackClient,
    SlackClient,
    SlackPostError,
    find_personal_data,
)

TOKEN_PATH = "/services/T000/B000/not-a-real-token"
SUMMARY = "Run 20240514T1000: shared 412 leads with 3 partners on 2024-05-14, 3 failed"


def _client(endpoint: LocalEndpoint, **options) -> SlackClient:
    settings = {"timeout_s": 2.0, "attempts": 3, "backoff_base_s": 0.01}
    settings.update(options)
    return SlackClient(endpoint.url, **settings)


def test_post_sends_json():
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": SUMMARY}}]
    with LocalEndpoint(path=TOKEN_PATH) as endpoint:
        _client(endpoint).post_message(SUMMARY, blocks=blocks)
    sent = json.loads(endpoint.requests[0].body)
    assert endpoint.requests[0].path == TOKEN_PATH
    assert sent["text"] == SUMMARY
    assert sent["blocks"] == blocks


def test_retry_500_then_ok():
    with LocalEndpoint([500, 200]) as endpoint:
        _client(endpoint).post_message(SUMMARY)
    assert [request.status for request in endpoint.requests] == [500, 200]


def test_429_waits_retry_after():
    script = [Reply(429, {"Retry-After": "1"}, b"rate_limited"), 200]
    with LocalEndpoint(script) as endpoint:
        _client(endpoint).post_message(SUMMARY)
    gap = endpoint.requests[1].received_at - endpoint.requests[0].received_at
    assert len(endpoint.requests) == 2
    assert gap >= 1.0
    assert gap < 3.0


def test_429_over_cap_fails_at_once():
    script = [Reply(429, {"Retry-After": "3600"}, b"rate_limited")]
    with LocalEndpoint(script) as endpoint:
        with pytest.raises(SlackPostError, match="429"):
            _client(endpoint, max_wait_s=5).post_message(SUMMARY)
    assert len(endpoint.requests) == 1


def test_5xx_exhausted_raises():
    with LocalEndpoint([503, 503, 503, 200]) as endpoint:
        with pytest.raises(SlackPostError, match="503"):
            _client(endpoint).post_message(SUMMARY)
    assert len(endpoint.requests) == 3


def test_404_not_retried():
    with LocalEndpoint([Reply(404, body=b"no_service")]) as endpoint:
        with pytest.raises(SlackPostError, match="no_service"):
            _client(endpoint).post_message(SUMMARY)
    assert len(endpoint.requests) == 1


def test_200_without_ok_raises():
    with LocalEndpoint([Reply(200, body=b"invalid_payload")]) as endpoint:
        with pytest.raises(SlackPostError, match="invalid_payload"):
            _client(endpoint).post_message(SUMMARY)


def test_timeout_retried():
    with LocalEndpoint([Reply(200, delay_s=1.0), 200]) as endpoint:
        _client(endpoint, timeout_s=0.2).post_message(SUMMARY)
    assert len(endpoint.requests) == 2


def test_connection_refused_raises(caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SlackClient(
        f"http://127.0.0.1:{port}{TOKEN_PATH}", attempts=2, backoff_base_s=0.01
    )
    with pytest.raises(SlackPostError, match="unreachable"):
        client.post_message(SUMMARY)

    # slack_sdk's retry line would name the URL, token included.
    assert "not-a-real-token" not in caplog.text


def test_url_token_not_logged(caplog):
    caplog.set_level(logging.DEBUG)
    with LocalEndpoint(
        [503, Reply(404, body=b"no_service")], path=TOKEN_PATH
    ) as endpoint:
        with pytest.raises(SlackPostError) as caught:
            _client(endpoint).post_message(SUMMARY)
    assert "retry 1" in caplog.text
    assert "not-a-real-token" not in caplog.text
    assert "not-a-real-token" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Lead from jane.doe@example.com failed", "email"),
        ("Call +44 20 7946 0031 today", "phone"),
        ("Call +442079460031 today", "phone"),
    ],
)
def test_personal_data_blocked(text, kind):
    with LocalEndpoint() as endpoint:
        with pytest.raises(ValueError, match=kind):
            _client(endpoint).post_message(text)
    assert endpoint.requests == []


def test_personal_data_in_blocks():
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "<mailto:a@b.io|a@b.io>"},
        }
    ]
    assert find_personal_data(SUMMARY, blocks) == ["email"]


def test_counts_and_dates_allowed():
    assert find_personal_data(SUMMARY) == []
    assert find_personal_data("lead L-4101 and L-4102, score 87.50, 10:00-12:00") == []


def test_fake_records_and_checks():
    fake = FakeSlackClient()
    fake.post_message(SUMMARY)
    with pytest.raises(ValueError):
        fake.post_message("jane.doe@example.com")
    assert [message.text for message in fake.messages] == [SUMMARY]


def test_fake_fails_on_request():
    fake = FakeSlackClient(fail_with=SlackPostError("down"))
    with pytest.raises(SlackPostError):
        fake.post_message(SUMMARY)
    assert fake.messages == []


@pytest.mark.parametrize("url", ["", "hooks.example/abc", "ftp://127.0.0.1/x"])
def test_invalid_url_rejected(url):
    with pytest.raises(ConfigError):
        SlackClient(url)
