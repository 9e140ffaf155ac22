"""Signed webhook delivery to partners (Standard Webhooks, ``standardwebhooks`` 1.3).

Each request carries ``webhook-id`` (the transfer's idempotency key, the same on
every retry, so a partner can drop duplicates), ``webhook-timestamp`` and
``webhook-signature``. The signature is computed over the exact body bytes handed to
:meth:`WebhookClient.send` and those bytes go on the wire unchanged: a body that is
parsed and serialised again no longer verifies.

Status handling, per attempt:

* 2xx: delivered.
* 408 Request Timeout, 425 Too Early, 429 Too Many Requests and 5xx: retried within
  the call, then :class:`RetryableDeliveryError`. 408 and 425 are transient by
  definition.
* 409 Conflict: retried like a 5xx. Under an idempotency key it means a request with
  the same ``webhook-id`` is still being processed, and the content is not at fault.
* 410 Gone: :class:`EndpointGoneError`, no retry.
* 401 Unauthorized and 403 Forbidden: :class:`EndpointAuthError`, no retry. The
  partner rejected the signature or credentials, which every other message would
  carry too.
* 3xx: :class:`EndpointRedirectError` with the Location, no retry. Redirects are not
  followed because a signed POST should reach the configured URL or fail visibly.
* Any other 4xx: :class:`RejectedDeliveryError`, no retry.
* Timeouts, connection errors and any other ``httpx.HTTPError``: retried like a 5xx.

The body of a 2xx response is never read, so its size or a broken
``Content-Encoding`` does not matter. Of any other response at most
``REASON_BODY_BYTES`` raw bytes are read for the error message. Each try has a total
deadline as well as httpx's per-operation timeout, so a server that sends one byte
at a time cannot keep a connected request open past the deadline.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from leadshare.errors import (
    ConfigError,
    DeliveryError,
    EndpointAuthError,
    EndpointGoneError,
    EndpointRedirectError,
    RejectedDeliveryError,
    RetryableDeliveryError,
)
from leadshare.transfer.redact import DIGIT_RUN
from leadshare.words import counted

log = logging.getLogger(__name__)

USER_AGENT = "leadshare-webhook/0.1"
MAX_RETRY_AFTER_S = 24 * 3600.0
"""Upper bound for a partner's Retry-After; a larger value is treated as this."""

RETRYABLE_4XX = frozenset({408, 409, 425, 429})
AUTH_FAILURE_STATUSES = frozenset({401, 403})
REASON_BODY_BYTES = 2048
"""Maximum raw bytes read from a non-2xx response body, for the error message."""
DEADLINE_FACTOR = 3.0
"""Default total deadline of one try, as a multiple of the per-operation timeout."""
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,255}")
_EMAIL = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+")
_LONG_NUMBER = re.compile(r"\+?\d[\d ]{5,}\d")

Timestamp = dt.datetime | int | None


@dataclass(frozen=True)
class DeliveryResult:
    """A delivered webhook: final HTTP status, attempts used, last attempt in ms."""

    status: int
    attempts: int
    response_ms: float


class WebhookSender(Protocol):
    """Interface of a webhook client that callers type against, real or fake."""

    def send(
        self, message_id: str, body: bytes, timestamp: Timestamp = None
    ) -> DeliveryResult: ...


def parse_retry_after(
    value: str | None, now: dt.datetime | None = None
) -> float | None:
    """Return a Retry-After header as seconds from ``now``, capped at one day.

    Accepts delay-seconds (``"120"``) and an HTTP date; returns None for a missing
    or invalid value. A date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return min(float(text), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def redirect_target(location: str | None) -> str | None:
    """Return the scheme, host and port of a redirect's Location header, for messages.

    The path, query and user part are left out, because a partner's URL can carry
    a token in any of them. A relative Location (same host) becomes "a path on the
    same host".
    """
    if location is None:
        return None
    parts = urlsplit(location.strip())
    if not parts.hostname:
        return "a path on the same host"
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname if port is None else f"{parts.hostname}:{port}"
    scheme = f"{parts.scheme}://" if parts.scheme else "//"
    rest = " (path not shown)" if parts.path.strip("/") or parts.query else ""
    return f"{scheme}{host}{rest}"


def classify_status(
    status: int,
    reason: str,
    retry_after_s: float | None = None,
    location: str | None = None,
) -> DeliveryError | None:
    """Map an HTTP status to None (delivered) or the error it stands for.

    ``reason`` is a short text for the error message (status phrase and a snippet
    of the response), ``location`` the Location header of a redirect. The module
    docstring lists the rules.
    """
    if 200 <= status < 300:
        return None
    text = f"HTTP {status} {reason}".strip()
    if 300 <= status < 400:
        target = location or "(no Location header)"
        return EndpointRedirectError(
            f"{text}: the webhook URL redirects to {target}. Redirects are not "
            "followed, so update the partner's webhook URL in partners.yaml",
            status=status,
            location=location,
        )
    if status >= 500 or status in RETRYABLE_4XX:
        return RetryableDeliveryError(text, status=status, retry_after_s=retry_after_s)
    if status in AUTH_FAILURE_STATUSES:
        return EndpointAuthError(
            f"{text}: authentication failed, the partner rejected the signature or "
            "credentials. Check the signing secret and any credentials in the "
            "webhook URL, then re-enable the endpoint",
            status=status,
        )
    if status == 410:
        return EndpointGoneError(
            f"{text}: the partner retired this endpoint; update the partner's "
            "webhook URL and re-enable the endpoint",
            status=status,
        )
    return RejectedDeliveryError(
        f"{text}: the partner rejected the message; sending it again would not help, "
        "check the payload fields and the partner's API contract",
        status=status,
    )


def sent_values(body: bytes) -> list[str]:
    """Return the words of the lead's text values in a request body, for masking.

    The values are those under the body's ``lead`` key (see payload.py), not the
    intro, whose common words would mask most of a partner's message. Words
    shorter than 3 characters are left out, and so is a body that is not JSON.
    The words are longest first, so that a longer one is masked whole.
    """
    try:
        document = json.loads(body)
    except ValueError:
        return []
    if not isinstance(document, dict):
        return []
    words: set[str] = set()
    stack = [document.get("lead")]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            words.update(re.findall(r"\w{3,}", value))
    return sorted(words, key=len, reverse=True)


def short_reason(
    response: httpx.Response,
    body_prefix: bytes,
    sent: list[str] | None = None,
    limit: int = 160,
) -> str:
    """Return the status phrase and the start of the response body, redacted.

    ``body_prefix`` is the first raw (not decoded) bytes of the body. A body with a
    ``Content-Encoding`` other than identity is left out, because a prefix of it
    cannot be decoded reliably. A partner may echo lead data in an error body, so
    e-mail addresses, phone-like digit runs and the words of ``sent`` (the text
    values of the request, such as names) are masked.
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in {"", "identity"}:
        text = f"({encoding}-encoded body not shown)"
    else:
        text = _decode_text(body_prefix, response.charset_encoding)
    # Masked before the cut, so that a value cut in two is masked whole.
    snippet = " ".join(text.split())
    snippet = _EMAIL.sub("[redacted]", snippet)
    snippet = DIGIT_RUN.sub("[redacted]", snippet)
    snippet = _LONG_NUMBER.sub("[redacted]", snippet)
    if sent:
        pattern = re.compile(
            r"\b(?:" + "|".join(map(re.escape, sent)) + r")\b", re.IGNORECASE
        )
        snippet = pattern.sub("[redacted]", snippet)
    snippet = snippet[:limit]
    phrase = response.reason_phrase or ""
    return f"{phrase}: {snippet}" if snippet else phrase


def signer_for(secret: str) -> Webhook:
    """Return a Standard Webhooks signer; the error never contains the secret."""
    if not isinstance(secret, str) or not secret:
        raise ConfigError("webhook secret is empty; set the partner's secret reference")
    encoded = secret.removeprefix("whsec_")
    try:
        base64.b64decode(encoded, validate=True)
        return Webhook(secret)
    except (binascii.Error, EmptyWebhookSecretError) as exc:
        raise ConfigError(
            "webhook secret is not valid: expected 'whsec_' followed by base64; "
            "generate a new secret and share it with the partner"
        ) from exc


def unix_seconds(timestamp: Timestamp) -> int:
    """Return whole Unix seconds for ``webhook-timestamp``; None means now."""
    if timestamp is None:
        return math.floor(time.time())
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            raise ValueError(f"timestamp {timestamp.isoformat()} is naive; pass UTC")
        return math.floor(timestamp.timestamp())
    return int(timestamp)


class WebhookClient:
    """Send signed webhooks to one partner URL, retrying transient failures.

    ``attempts`` bounds the tries within one :meth:`send` call. Between tries it
    waits ``backoff_base_s * 2**(n-1)`` after the n-th try, or the partner's
    Retry-After when that is longer. A Retry-After longer than ``max_wait_s`` ends
    the call at once with :class:`RetryableDeliveryError` carrying ``retry_after_s``,
    so the outbox schedules the next try instead of blocking the run.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_base_s: float = 1.0,
        transport: httpx.BaseTransport | None = None,
        max_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        deadline_s: float | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(
                f"webhook URL must be http(s)://host/..., got scheme {parts.scheme!r}"
            )
        if attempts < 1:
            raise ConfigError(f"webhook attempts must be at least 1, got {attempts}")
        if deadline_s is None:
            deadline_s = timeout_s * DEADLINE_FACTOR
        if deadline_s <= 0:
            raise ConfigError(f"webhook deadline must be positive, got {deadline_s} s")
        self.url = url
        self.host = (
            parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        )
        self.attempts = attempts
        self.backoff_base_s = backoff_base_s
        self.max_wait_s = max_wait_s
        self.deadline_s = deadline_s
        self._socket: socket.socket | None = None
        self._signer = signer_for(secret)
        self._sleep = sleep
        # trust_env=False: no proxy or netrc from the environment reaches partner calls.
        # NOTE: httpx itself logs each request URL at INFO on the "httpx" logger; a
        # partner URL that carries a token needs that logger at WARNING.
        # One connection at most, so the socket that the trace hook stored is the
        # one a request uses, whether the connection is new or kept alive.
        self._client = httpx.Client(
            timeout=timeout_s,
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            headers={"user-agent": USER_AGENT},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def signed_headers(
        self, message_id: str, body: bytes, timestamp: Timestamp
    ) -> dict[str, str]:
        """Return the Standard Webhooks headers for ``body`` exactly as given."""
        seconds = unix_seconds(timestamp)
        signature = self._signer.sign(
            msg_id=message_id,
            timestamp=dt.datetime.fromtimestamp(seconds, dt.UTC),
            data=body,
        )
        return {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": signature,
        }

    def send(
        self, message_id: str, body: bytes, timestamp: Timestamp = None
    ) -> DeliveryResult:
        """POST ``body`` and return once the partner responds with 2xx.

        ``timestamp`` fixes ``webhook-timestamp`` for every try; None signs each try
        with its own send time, so a retry stays within a receiver's tolerance window
        (5 minutes in ``standardwebhooks``). Raises RetryableDeliveryError,
        RejectedDeliveryError, EndpointRedirectError, EndpointGoneError or
        EndpointAuthError as described in the module docstring.
        """
        _check_message(message_id, body)
        for attempt in range(1, self.attempts + 1):
            outcome = self._attempt(message_id, body, timestamp)
            if isinstance(outcome, DeliveryResult):
                log.debug(
                    "webhook %s delivered to %s on try %d",
                    message_id,
                    self.host,
                    attempt,
                )
                return DeliveryResult(outcome.status, attempt, outcome.response_ms)
            if not isinstance(outcome, RetryableDeliveryError):
                raise _with_context(outcome, message_id, self.host, attempt)

            delay = self._retry_delay(attempt, outcome.retry_after_s)
            if attempt == self.attempts or delay is None:
                raise _with_context(outcome, message_id, self.host, attempt)
            log.warning(
                "webhook %s to %s failed on try %d of %d (%s); retrying in %.1f s",
                message_id,
                self.host,
                attempt,
                self.attempts,
                outcome,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

    def _attempt(
        self, message_id: str, body: bytes, timestamp: Timestamp
    ) -> DeliveryResult | DeliveryError:
        headers = self.signed_headers(message_id, body, timestamp)
        started = time.perf_counter()
        expired = threading.Event()
        watchdog = threading.Timer(self.deadline_s, self._abort_request, (expired,))
        watchdog.daemon = True
        watchdog.start()
        try:
            outcome = self._post(body, headers, started)
        except httpx.HTTPError as exc:
            if expired.is_set():
                return _transport_failure(
                    f"timed out after the {self.deadline_s:g} s deadline "
                    f"({type(exc).__name__})",
                    exc,
                )
            if isinstance(exc, httpx.TimeoutException):
                return _transport_failure(f"timed out ({type(exc).__name__})", exc)
            if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
                text = f"connection failed ({type(exc).__name__})"
                return _transport_failure(text, exc)
            return _transport_failure(f"request failed ({type(exc).__name__})", exc)
        finally:
            watchdog.cancel()
        return outcome

    def _post(
        self, body: bytes, headers: dict[str, str], started: float
    ) -> DeliveryResult | DeliveryError:
        """POST once and classify the response, reading no more body than needed."""
        with self._client.stream(
            "POST",
            self.url,
            content=body,
            headers=headers,
            extensions={"trace": self._trace},
        ) as response:
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            if 200 <= response.status_code < 300:
                # Accepted: the body is neither read nor decoded.
                return DeliveryResult(response.status_code, 1, elapsed_ms)
            body_prefix = _read_prefix(response, REASON_BODY_BYTES)
        retry_after_s = parse_retry_after(response.headers.get("retry-after"))
        error = classify_status(
            response.status_code,
            short_reason(response, body_prefix, sent_values(body)),
            retry_after_s,
            location=redirect_target(response.headers.get("location")),
        )
        assert error is not None
        return error

    def _trace(self, event: str, info: dict) -> None:
        """Store the socket of each new connection for :meth:`_abort_request`."""
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            if stream is not None:
                self._socket = stream.get_extra_info("socket")

    def _abort_request(self, expired: threading.Event) -> None:
        """Shut the connection's socket down so a blocked read returns at once.

        Runs on the watchdog thread when a try passes its deadline. httpx then raises
        a transport error in the request thread, which :meth:`_attempt` reports as a
        timeout.
        """
        expired.set()
        connection_socket = self._socket
        # NOTE: while the TCP connect is still running there is no socket to shut
        # down yet, so that phase ends only at the connect timeout.
        if connection_socket is None:
            return
        try:
            connection_socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the request ended on its own

    def _retry_delay(self, attempt: int, retry_after_s: float | None) -> float | None:
        """Return seconds to wait before the next try, or None to stop retrying now."""
        backoff = self.backoff_base_s * 2 ** (attempt - 1)
        if retry_after_s is None:
            return backoff
        if retry_after_s > self.max_wait_s:
            return None
        return max(backoff, retry_after_s)


def _check_message(message_id: str, body: bytes) -> None:
    if not isinstance(body, bytes):
        raise TypeError(
            "webhook body must be bytes (the exact bytes to sign), "
            f"got {type(body).__name__}"
        )
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(
            f"webhook id {message_id!r} is invalid: use 1-255 letters, digits or _.:-"
        )


def _decode_text(data: bytes, charset: str | None) -> str:
    """Decode ``data`` with ``charset``, or UTF-8 if it is missing or unknown."""
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    """Return up to ``limit`` raw body bytes, or the bytes read before a read failed."""
    prefix = b""
    try:
        for chunk in response.iter_raw():
            prefix += chunk
            if len(prefix) >= limit:
                break
    except httpx.HTTPError as exc:
        log.debug("response body not read: %s", type(exc).__name__)
    return prefix[:limit]


def _transport_failure(text: str, exc: httpx.HTTPError) -> RetryableDeliveryError:
    error = RetryableDeliveryError(text)
    error.__cause__ = exc
    return error


def _with_context(
    error: DeliveryError, message_id: str, host: str, attempts: int
) -> DeliveryError:
    """Return an error of the same class whose message names the message and tries."""
    tries = counted(attempts, "try", "tries")
    text = f"webhook {message_id} to {host} failed after {tries}: {error}"
    if isinstance(error, RetryableDeliveryError):
        wrapped: DeliveryError = RetryableDeliveryError(
            text, status=error.status, retry_after_s=error.retry_after_s
        )
    elif isinstance(error, EndpointRedirectError):
        wrapped = EndpointRedirectError(
            text, status=error.status, location=error.location
        )
    else:
        wrapped = type(error)(text, status=error.status)
    wrapped.attempts = attempts
    wrapped.__cause__ = error.__cause__
    return wrapped


@dataclass(frozen=True)
class SentMessage:
    """One call recorded by :class:`FakeWebhookClient`."""

    message_id: str
    body: bytes
    timestamp: int


@dataclass
class FakeWebhookClient:
    """A webhook client for callers' unit tests: records calls, plays a script.

    Each :meth:`send` takes the next item of ``script``: an HTTP status (mapped with
    the same rules as :class:`WebhookClient`, one try per call) or an exception
    instance to raise. An empty script delivers with 200.
    """

    script: list[int | Exception] = field(default_factory=list)
    calls: list[SentMessage] = field(default_factory=list)

    def send(
        self, message_id: str, body: bytes, timestamp: Timestamp = None
    ) -> DeliveryResult:
        _check_message(message_id, body)
        self.calls.append(SentMessage(message_id, body, unix_seconds(timestamp)))
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        error = classify_status(step, "(scripted)")
        if error is not None:
            raise error
        return DeliveryResult(status=step, attempts=1, response_ms=0.0)

    @property
    def message_ids(self) -> list[str]:
        return [call.message_id for call in self.calls]
