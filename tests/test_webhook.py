"""Webhook client, payload and retry schedule against a real local HTTP endpoint."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import socket
import time
from pathlib import Path

import httpx
import pytest
from httpserver import LocalEndpoint, Reply
from standardwebhooks import Webhook
from standardwebhooks import webhooks as sw_module
from standardwebhooks.webhooks import WebhookVerificationError

from leadshare.errors import (
    ConfigError,
    EndpointAuthError,
    EndpointGoneError,
    EndpointRedirectError,
    RejectedDeliveryError,
    RetryableDeliveryError,
)
from leadshare.transfer.payload import build_payload
from leadshare.transfer.schedule import next_attempt_at
from leadshare.transfer.webhook import (
    FakeWebhookClient,
    WebhookClient,
    classify_status,
    parse_retry_after,
)

SECRET = "whsec_" + base64.b64encode(b"leadshare-local-test-secret-0001").decode()
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LEAD = {
    "lead_id": "L-1",
    "company": "Park & Lee",
    "country": "DE",
    "email": "private.person@example.com",
    "phone_e164": "+4930123456",
}


def _case(name: str) -> Path:
    folder = SHARED / "cases" / name
    if not folder.is_dir():
        pytest.fail(
            f"shared case folder {folder} is missing; lay shared/ beside the checkout"
        )
    return folder


def _body() -> bytes:
    return build_payload(LEAD, ["lead_id", "company"], "Hello", "acme")


def _client(url: str, **options) -> WebhookClient:
    settings = {"timeout_s": 2.0, "attempts": 3, "backoff_base_s": 0.01}
    settings.update(options)
    return WebhookClient(url, SECRET, **settings)


@pytest.fixture
def b19():
    folder = _case("B19")
    case_input = json.loads((folder / "input.json").read_text(encoding="utf-8"))
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    body = (folder / case_input["body_file"]).read_bytes()
    return case_input, expected, body


@pytest.fixture
def frozen_b19_clock(monkeypatch, b19):
    """Make standardwebhooks' timestamp check see the case's 'now'."""
    now = dt.datetime.fromisoformat(b19[0]["now_utc"].replace("Z", "+00:00"))

    class FrozenDatetime(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return now.astimezone(tz)

    monkeypatch.setattr(sw_module, "datetime", FrozenDatetime)


def test_b19_body_is_the_case_file(b19):
    case_input, _, body = b19
    assert len(body) == case_input["body_length_bytes"]
    assert hashlib.sha256(body).hexdigest() == case_input["body_sha256"]


def test_b19_signature_header(b19):
    case_input, expected, body = b19
    with WebhookClient("http://127.0.0.1:9/hook", case_input["secret"]) as client:
        headers = client.signed_headers(
            case_input["webhook_id"], body, case_input["webhook_timestamp"]
        )
    assert headers["webhook-signature"] == expected["expected_signature_header"]
    assert headers["webhook-id"] == case_input["webhook_id"]
    assert headers["webhook-timestamp"] == str(case_input["webhook_timestamp"])


def test_b19_wire_bytes_and_header(b19):
    case_input, expected, body = b19
    with (
        LocalEndpoint() as endpoint,
        WebhookClient(endpoint.url, case_input["secret"]) as client,
    ):
        client.send(
            case_input["webhook_id"], body, timestamp=case_input["webhook_timestamp"]
        )
    sent = endpoint.requests[0]
    assert sent.body == body
    assert sent.headers["webhook-signature"] == expected["expected_signature_header"]


def test_b19_raw_body_verifies(b19, frozen_b19_clock):
    case_input, expected, body = b19
    headers = _b19_headers(case_input, expected)
    assert expected["verify_raw_body"] == "accepted"
    assert Webhook(case_input["secret"]).verify(body, headers, json_parse=False) is None


@pytest.mark.parametrize(
    ("variant", "expected_key"),
    [
        ("reserialised_default", "verify_reserialised_default"),
        ("compact", "verify_compact"),
        ("trailing_newline", "verify_raw_plus_trailing_newline"),
    ],
)
def test_b19_reserialised_rejected(b19, frozen_b19_clock, variant, expected_key):
    case_input, expected, body = b19
    variants = dict(
        case_input["variants"], trailing_newline=body.decode("utf-8") + "\n"
    )
    assert expected[expected_key] == "rejected"
    with pytest.raises(WebhookVerificationError):
        Webhook(case_input["secret"]).verify(
            variants[variant], _b19_headers(case_input, expected)
        )


@pytest.mark.parametrize(
    ("variant", "expected_key"),
    [
        ("reserialised_default", "signature_over_reserialised_default_would_be"),
        ("compact", "signature_over_compact_would_be"),
    ],
)
def test_b19_variant_signatures(b19, variant, expected_key):
    case_input, expected, _ = b19
    with WebhookClient("http://127.0.0.1:9/hook", case_input["secret"]) as client:
        headers = client.signed_headers(
            case_input["webhook_id"],
            case_input["variants"][variant].encode("utf-8"),
            case_input["webhook_timestamp"],
        )
    assert headers["webhook-signature"] == expected[expected_key]


def _b19_headers(case_input: dict, expected: dict) -> dict[str, str]:
    return {
        "webhook-id": case_input["webhook_id"],
        "webhook-timestamp": str(case_input["webhook_timestamp"]),
        "webhook-signature": expected["expected_signature_header"],
    }


def test_receiver_rejects_reserialised_body():
    raw = json.dumps(
        {"type": "lead.shared", "lead": {"score": 87.50}}, indent=1
    ).encode()
    compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    with WebhookClient("http://127.0.0.1:9/hook", SECRET) as signer:
        headers = signer.signed_headers("msg_tamper", raw, None)
    with LocalEndpoint(secret=SECRET) as endpoint:
        response = httpx.post(
            endpoint.url, content=compact, headers=headers, trust_env=False
        )
    assert response.status_code == 401
    assert endpoint.accepted_ids == []
    assert endpoint.requests[0].signature_valid is False


def test_send_verified_once():
    body = _body()
    with LocalEndpoint(secret=SECRET) as endpoint, _client(endpoint.url) as client:
        result = client.send("msg_1", body)
    assert result.status == 200
    assert result.attempts == 1
    assert result.response_ms > 0
    assert endpoint.requests[0].signature_valid is True
    assert endpoint.requests[0].body == body
    assert endpoint.accepted_ids == ["msg_1"]


def test_retry_500_then_200():
    with (
        LocalEndpoint([500, 200], secret=SECRET) as endpoint,
        _client(endpoint.url) as client,
    ):
        result = client.send("msg_2", _body())
    assert result.attempts == 2
    assert [request.status for request in endpoint.requests] == [500, 200]
    assert {request.headers["webhook-id"] for request in endpoint.requests} == {"msg_2"}
    assert endpoint.accepted_ids == ["msg_2"]


def test_same_id_on_every_retry():
    with (
        LocalEndpoint([503, 502, 500], secret=SECRET) as endpoint,
        _client(endpoint.url) as client,
    ):
        with pytest.raises(RetryableDeliveryError) as caught:
            client.send("msg_3", _body())
    assert len(endpoint.requests) == 3
    assert [request.headers["webhook-id"] for request in endpoint.requests] == [
        "msg_3"
    ] * 3
    assert caught.value.status == 500
    assert "after 3 tries" in str(caught.value)
    assert endpoint.accepted_ids == []


def test_retry_429_waits_retry_after():
    script = [Reply(429, {"Retry-After": "1"}), 200]
    with (
        LocalEndpoint(script, secret=SECRET) as endpoint,
        _client(endpoint.url) as client,
    ):
        result = client.send("msg_4", _body())
    gap = endpoint.requests[1].received_at - endpoint.requests[0].received_at
    assert result.attempts == 2
    assert gap >= 1.0
    assert gap < 3.0


def test_retry_after_over_cap_stops():
    script = [Reply(429, {"Retry-After": "3600"})]
    with (
        LocalEndpoint(script) as endpoint,
        _client(endpoint.url, max_wait_s=5) as client,
    ):
        with pytest.raises(RetryableDeliveryError) as caught:
            client.send("msg_5", _body())
    assert len(endpoint.requests) == 1
    assert caught.value.retry_after_s == 3600
    assert caught.value.status == 429


def test_timeout_then_success_dedups():
    script = [Reply(200, delay_s=1.0), 200]
    with LocalEndpoint(script, secret=SECRET) as endpoint:
        with _client(endpoint.url, timeout_s=0.2) as client:
            result = client.send("msg_6", _body())
    assert result.attempts == 2
    assert endpoint.accepted_ids == ["msg_6"]
    assert endpoint.duplicates == 1


def test_timeout_exhausted():
    script = [Reply(200, delay_s=1.0), Reply(200, delay_s=1.0)]
    with LocalEndpoint(script) as endpoint:
        with _client(endpoint.url, timeout_s=0.2, attempts=2) as client:
            started = time.monotonic()
            with pytest.raises(RetryableDeliveryError) as caught:
                client.send("msg_7", _body())
            elapsed = time.monotonic() - started
    assert caught.value.status is None
    assert "timed out" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
    assert elapsed < 1.0


def test_connection_refused_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _client(f"http://127.0.0.1:{port}/hook", attempts=2) as client:
        with pytest.raises(RetryableDeliveryError) as caught:
            client.send("msg_8", _body())
    assert "connection failed" in str(caught.value)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_4xx_rejected_without_retry(status):
    with LocalEndpoint([status, 200]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(RejectedDeliveryError) as caught:
            client.send("msg_9", _body())
    assert caught.value.status == status
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_without_retry(status):
    with LocalEndpoint([status, 200]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(EndpointAuthError) as caught:
            client.send("msg_9", _body())
    assert caught.value.status == status
    assert "authentication failed" in str(caught.value)
    assert "signing secret" in str(caught.value)
    assert len(endpoint.requests) == 1


def test_wrong_secret_is_auth_failure():
    # The partner verifies with a secret rotated on its side only.
    other = "whsec_" + base64.b64encode(b"a-secret-rotated-on-one-side-only").decode()
    with LocalEndpoint(secret=other) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(EndpointAuthError) as caught:
            client.send("msg_9", _body())
    assert caught.value.status == 401
    assert [request.signature_valid for request in endpoint.requests] == [False]


def test_410_endpoint_gone():
    with LocalEndpoint([410, 200]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(EndpointGoneError) as caught:
            client.send("msg_10", _body())
    assert caught.value.status == 410
    assert len(endpoint.requests) == 1


def test_error_counts_http_attempts():
    with LocalEndpoint([500, 500, 500]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(RetryableDeliveryError) as caught:
            client.send("msg_10", _body())
    assert len(endpoint.requests) == 3
    assert caught.value.attempts == 3


def test_gone_after_retry_counts_both():
    with LocalEndpoint([503, 410]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(EndpointGoneError) as caught:
            client.send("msg_10", _body())
    assert len(endpoint.requests) == 2
    assert caught.value.attempts == 2


@pytest.mark.parametrize("status", [408, 409, 425])
def test_transient_4xx_retried(status):
    with LocalEndpoint([status, 200]) as endpoint, _client(endpoint.url) as client:
        result = client.send("msg_11", _body())
    assert result.attempts == 2
    assert len(endpoint.requests) == 2


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_not_followed(status):
    location = "https://user:pw@new.example:8443/hook/tok-path?token=tok-query"
    script = [Reply(status, {"Location": location})]
    with LocalEndpoint(script) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(EndpointRedirectError) as caught:
            client.send("msg_12", _body())
    assert len(endpoint.requests) == 1
    assert caught.value.status == status
    assert caught.value.location == "https://new.example:8443 (path not shown)"
    assert "https://new.example:8443 (path not shown)" in str(caught.value)
    for secret in ("tok-path", "tok-query", "pw@"):
        assert secret not in str(caught.value)
    assert "partners.yaml" in str(caught.value)
    assert "check the payload" not in str(caught.value)


def test_2xx_bad_gzip_body_delivered():
    reply = Reply(200, {"Content-Encoding": "gzip"}, body=b"this is not gzip")
    with (
        LocalEndpoint([reply], secret=SECRET) as endpoint,
        _client(endpoint.url) as client,
    ):
        result = client.send("msg_20", _body())
    assert result.status == 200
    assert result.attempts == 1
    assert endpoint.accepted_ids == ["msg_20"]


def test_4xx_bad_gzip_body_rejected():
    reply = Reply(422, {"Content-Encoding": "gzip"}, body=b"this is not gzip")
    with LocalEndpoint([reply]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(RejectedDeliveryError) as caught:
            client.send("msg_21", _body())
    assert caught.value.status == 422
    assert "gzip-encoded body not shown" in str(caught.value)


def test_unknown_charset_reason_shown():
    reply = Reply(
        422, {"Content-Type": "text/plain; charset=no-such-codec"}, body=b"bad field"
    )
    with LocalEndpoint([reply]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(RejectedDeliveryError) as caught:
            client.send("msg_25", _body())
    assert caught.value.status == 422
    assert "bad field" in str(caught.value)


def test_decoding_error_retryable():
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.DecodingError("broken body", request=request)

    client = WebhookClient(
        "http://127.0.0.1:9/hook",
        SECRET,
        attempts=2,
        transport=httpx.MockTransport(broken),
        sleep=lambda seconds: None,
    )
    with client, pytest.raises(RetryableDeliveryError) as caught:
        client.send("msg_22", _body())
    assert "request failed (DecodingError)" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.DecodingError)


@pytest.mark.parametrize("status", [200, 500])
def test_large_body_not_read(status):
    size = 64 * 1024 * 1024
    reply = Reply(status, body_size=size)
    with (
        LocalEndpoint([reply]) as endpoint,
        _client(endpoint.url, attempts=1) as client,
    ):
        if status == 200:
            assert client.send("msg_23", _body()).status == 200
        else:
            with pytest.raises(RetryableDeliveryError) as caught:
                client.send("msg_23", _body())
            assert len(str(caught.value)) < 500
        deadline = time.monotonic() + 5
        while not endpoint.body_bytes_written and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(endpoint.body_bytes_written) == 1
    assert endpoint.body_bytes_written[0] < size // 2


@pytest.mark.parametrize(
    ("status", "body_only", "message"),
    [(200, False, "1.2 s deadline"), (500, True, "HTTP 500")],
)
def test_trickling_server_hits_deadline(status, body_only, message):
    # Each byte arrives well within the 0.4 s timeout. The default deadline of
    # three timeouts ends the request, which would otherwise take over 40 s.
    reply = Reply(
        status, body=b"slow" * 100, trickle_s=0.1, trickle_body_only=body_only
    )
    with LocalEndpoint([reply]) as endpoint:
        with _client(endpoint.url, timeout_s=0.4, attempts=1) as client:
            started = time.monotonic()
            with pytest.raises(RetryableDeliveryError) as caught:
                client.send("msg_24", _body())
            elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert message in str(caught.value)


def test_deadline_defaults_to_timeout_factor():
    with _client("http://127.0.0.1:9/hook", timeout_s=2.0) as client:
        assert client.deadline_s == 6.0
    with pytest.raises(ConfigError):
        _client("http://127.0.0.1:9/hook", deadline_s=0)


def test_rejection_reason_redacted():
    reply = Reply(422, body=b'{"error": "lead private.person@example.com is invalid"}')
    with LocalEndpoint([reply]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(RejectedDeliveryError) as caught:
            client.send("msg_13", _body())
    assert "private.person@example.com" not in str(caught.value)
    assert "is invalid" in str(caught.value)


def test_rejection_masks_sent_names_and_phones():
    lead = {**LEAD, "first_name": "Jolanta", "last_name": "Brzęczyszczykiewicz"}
    body = build_payload(lead, ["first_name", "last_name"], "Hello lead", "acme")
    error = (
        '{"error": "contact Jolanta Brzęczyszczykiewicz (tel +49-89-999-9999, '
        '089/9999999) already exists, Hello"}'
    )
    reply = Reply(400, body=error.encode("utf-8"))
    with LocalEndpoint([reply]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(RejectedDeliveryError) as caught:
            client.send("msg_15", body)
    message = str(caught.value)
    for private in ("Jolanta", "Brzęczyszczykiewicz", "999-9999", "9999999"):
        assert private not in message
    assert "contact [redacted] [redacted]" in message
    assert "already exists, Hello" in message


def test_rejection_masks_names_at_the_cut():
    lead = {**LEAD, "last_name": "Quebeckerin"}
    body = build_payload(lead, ["last_name"], "Hello", "acme")
    # The surname starts at character 155 of the body, across the 160 cut.
    error = "x" * 154 + " Quebeckerin is a duplicate"
    reply = Reply(400, body=error.encode("utf-8"))
    with LocalEndpoint([reply]) as endpoint, _client(endpoint.url) as client:
        with pytest.raises(RejectedDeliveryError) as caught:
            client.send("msg_16", body)
    assert "Queb" not in str(caught.value)
    assert " [reda" in str(caught.value)


def test_logs_hold_no_secret_or_body(caplog):
    body = build_payload(LEAD, ["email"], "Hello", "acme")
    caplog.set_level(logging.DEBUG)
    with (
        LocalEndpoint([503, 503]) as endpoint,
        _client(endpoint.url, attempts=2) as client,
    ):
        with pytest.raises(RetryableDeliveryError) as caught:
            client.send("msg_14", body)
    assert "retrying" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET.removeprefix("whsec_") not in caplog.text
    assert LEAD["email"] not in caplog.text
    assert LEAD["email"] not in str(caught.value)


def test_fixed_timestamp_on_retries():
    with (
        LocalEndpoint([500, 200], secret=None) as endpoint,
        _client(endpoint.url) as client,
    ):
        client.send(
            "msg_15", _body(), timestamp=dt.datetime(2024, 5, 14, tzinfo=dt.UTC)
        )
    stamps = {request.headers["webhook-timestamp"] for request in endpoint.requests}
    assert stamps == {"1715644800"}


def test_mock_transport_used():
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = WebhookClient(
        "http://127.0.0.1:9/hook", SECRET, transport=httpx.MockTransport(answer)
    )
    result = client.send("msg_16", b"{}")
    assert result.status == 204
    assert seen[0].content == b"{}"
    assert seen[0].headers["webhook-id"] == "msg_16"


def test_invalid_secret_hidden():
    secret = "whsec_not base64 at all!"
    with pytest.raises(ConfigError) as caught:
        WebhookClient("http://127.0.0.1:9/hook", secret)
    assert secret not in str(caught.value)


def test_invalid_inputs():
    with pytest.raises(ConfigError):
        WebhookClient("ftp://127.0.0.1/hook", SECRET)
    client = WebhookClient("http://127.0.0.1:9/hook", SECRET)
    with pytest.raises(TypeError):
        client.send("msg_17", "not bytes")
    with pytest.raises(ValueError):
        client.send("bad id\r\nx: y", b"{}")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, None),
        (204, None),
        (301, EndpointRedirectError),
        (308, EndpointRedirectError),
        (400, RejectedDeliveryError),
        (401, EndpointAuthError),
        (403, EndpointAuthError),
        (407, RejectedDeliveryError),
        (408, RetryableDeliveryError),
        (409, RetryableDeliveryError),
        (410, EndpointGoneError),
        (429, RetryableDeliveryError),
        (500, RetryableDeliveryError),
        (503, RetryableDeliveryError),
    ],
)
def test_classify_status(status, expected):
    error = classify_status(status, "reason")
    assert type(error) is expected if expected else error is None


def test_parse_retry_after():
    now = dt.datetime(2024, 5, 14, 10, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Tue, 14 May 2024 10:00:30 GMT", now) == 30.0
    assert parse_retry_after("Tue, 14 May 2024 09:00:00 GMT", now) == 0.0
    assert parse_retry_after("999999999", now) == 86400.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_fake_client_scripts():
    fake = FakeWebhookClient(script=[503, 410, RuntimeError("boom")])
    with pytest.raises(RetryableDeliveryError):
        fake.send("msg_a", b"{}")
    with pytest.raises(EndpointGoneError):
        fake.send("msg_a", b"{}")
    with pytest.raises(RuntimeError):
        fake.send("msg_b", b"{}")
    result = fake.send("msg_c", b"{}", timestamp=5)
    assert result.status == 200
    assert fake.message_ids == ["msg_a", "msg_a", "msg_b", "msg_c"]
    assert fake.calls[-1].timestamp == 5


def test_payload_allowlist_only():
    body = build_payload(LEAD, ["lead_id", "company", "city"], "Hi", "acme")
    document = json.loads(body)
    assert b"private.person" not in body
    assert b"email" not in body
    assert b"+4930123456" not in body
    assert document["lead"] == {"lead_id": "L-1", "company": "Park & Lee", "city": None}
    assert document["type"] == "lead.shared"
    assert document["partner_id"] == "acme"


def test_payload_deterministic():
    reordered = dict(reversed(list(LEAD.items())))
    first = build_payload(LEAD, ["company", "lead_id"], "Hi", "acme")
    second = build_payload(reordered, ["company", "lead_id"], "Hi", "acme")
    assert first == second
    assert b"Park & Lee" in first


def test_payload_missing_values():
    lead = {"score": float("nan"), "when": dt.datetime(2024, 1, 2, tzinfo=dt.UTC)}
    document = json.loads(build_payload(lead, ["score", "when"], "Hi", "acme"))
    assert document["lead"]["score"] is None
    assert document["lead"]["when"] == "2024-01-02T00:00:00+00:00"
    with pytest.raises(TypeError):
        build_payload({"x": object()}, ["x"], "Hi", "acme")


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (1, dt.timedelta(seconds=5)),
        (2, dt.timedelta(minutes=5)),
        (3, dt.timedelta(minutes=30)),
        (4, dt.timedelta(hours=2)),
        (5, dt.timedelta(hours=5)),
        (6, dt.timedelta(hours=10)),
        (7, dt.timedelta(hours=10)),
        (20, dt.timedelta(hours=10)),
    ],
)
def test_schedule_steps(attempts, delay):
    now = dt.datetime(2024, 5, 14, 10, 0, tzinfo=dt.UTC)
    assert next_attempt_at(attempts, now) == now + delay


def test_schedule_honours_retry_after():
    now = dt.datetime(2024, 5, 14, 10, 0, tzinfo=dt.UTC)
    assert next_attempt_at(1, now, retry_after_s=120) == now + dt.timedelta(seconds=120)
    assert next_attempt_at(3, now, retry_after_s=120) == now + dt.timedelta(minutes=30)


def test_schedule_rejects_bad_input():
    with pytest.raises(ValueError):
        next_attempt_at(0, dt.datetime(2024, 5, 14, tzinfo=dt.UTC))
    with pytest.raises(ValueError):
        next_attempt_at(1, dt.datetime(2024, 5, 14))  # noqa: DTZ001
