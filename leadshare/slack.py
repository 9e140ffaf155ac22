"""Slack notifications through an incoming webhook (slack_sdk ``WebhookClient``).

slack_sdk's webhook client returns HTTP errors as a response instead of raising, so
:meth:`SlackClient.post_message` checks the status and body and raises
:class:`SlackPostError`. It retries 429 (after Retry-After), 5xx and connection
errors a few times. There is no default URL: nothing is sent unless a webhook URL
is passed in.

Messages must not contain personal data. :func:`find_personal_data` rejects e-mail
addresses and international phone numbers in the text and blocks before anything
is sent. It cannot recognise names, so callers build messages from counts, ids and
partner names only.
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import time
from dataclasses import dataclass, field
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import (
    BackoffRetryIntervalCalculator,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from leadshare.errors import ConfigError, LeadshareError
from leadshare.transfer.webhook import parse_retry_after

log = logging.getLogger(__name__)

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+\d[\d ().\-]{6,}\d")


MAX_RETRY_AFTER_S = 5.0
"""Longest Retry-After that a post waits for. A post runs while its run holds the
store's run lock, which approvals and other runs wait for, so a message whose
Retry-After is longer is dropped."""


class SlackPostError(LeadshareError):
    """A Slack message was not accepted after the retries."""

    status: int | None
    """The HTTP status of Slack's last response; None when none arrived."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def find_personal_data(
    text: str, blocks: list[dict[str, Any]] | None = None
) -> list[str]:
    """Return the kinds of personal data found (``"email"``, ``"phone"``), if any."""
    content = text + (json.dumps(blocks, ensure_ascii=False) if blocks else "")
    kinds = []
    if _EMAIL.search(content):
        kinds.append("email")
    if _PHONE.search(content):
        kinds.append("phone")
    return kinds


def check_message(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    """Raise ValueError if the message would carry personal data or is empty."""
    if not text.strip():
        raise ValueError("Slack message text is empty; it is the fallback for blocks")
    kinds = find_personal_data(text, blocks)
    if kinds:
        raise ValueError(
            f"Slack message contains personal data ({', '.join(kinds)}); use counts "
            "and lead ids instead"
        )


class _StatusRetryHandler(RetryHandler):
    """Retry 429 after Retry-After (if at most ``max_wait_s``) and 5xx with backoff."""

    def __init__(self, max_retry_count: int, backoff_base_s: float, max_wait_s: float):
        super().__init__(max_retry_count=max_retry_count)
        self.backoff_base_s = backoff_base_s
        self.max_wait_s = max_wait_s

    def _wait_s(self, state: RetryState, response: HttpResponse) -> float | None:
        values = {name.lower(): value for name, value in response.headers.items()}
        header = values.get("retry-after", [None])[0]
        retry_after_s = parse_retry_after(header)
        if retry_after_s is not None:
            return retry_after_s if retry_after_s <= self.max_wait_s else None
        if response.status_code == 429:
            return 1.0 + random.random()
        return self.backoff_base_s * 2**state.current_attempt

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None:
            return False
        if response.status_code != 429 and response.status_code < 500:
            return False
        return self._wait_s(state, response) is not None

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None  # _can_retry only accepts responses
        wait_s = self._wait_s(state, response) or 0.0
        log.warning(
            "Slack webhook returned HTTP %d; retry %d in %.1f s",
            response.status_code,
            state.current_attempt + 1,
            wait_s,
        )
        time.sleep(wait_s)
        state.next_attempt_requested = True
        state.increment_current_attempt()


class SlackClient:
    """Post messages to one Slack incoming webhook (or a local fake of it).

    ``attempts`` bounds the tries per message, shared between connection errors,
    429 and 5xx. A Retry-After over ``max_wait_s`` is not waited for: the message
    fails at once.
    """

    def __init__(
        self,
        webhook_url: str,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_base_s: float = 1.0,
        max_wait_s: float = MAX_RETRY_AFTER_S,
    ) -> None:
        parts = urlsplit(webhook_url or "")
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(
                "the Slack webhook URL is invalid: it must start with http:// or "
                "https:// and name a host. Fix the value that LEADSHARE_SLACK_WEBHOOK "
                "refers to"
            )
        if attempts < 1:
            raise ConfigError(f"Slack attempts must be at least 1, got {attempts}")
        retries = attempts - 1
        connection_errors = [
            URLError,
            ConnectionResetError,
            RemoteDisconnected,
            socket.timeout,
        ]
        # The webhook URL is a secret. slack_sdk logs it at DEBUG, and at INFO in
        # "Going to retry the same request: POST <url>", so its logger here shows
        # warnings and errors only.
        quiet = logging.getLogger(f"{__name__}.sdk")
        quiet.setLevel(logging.WARNING)
        self.host = parts.hostname
        self._client = WebhookClient(
            url=webhook_url,
            timeout=timeout_s,
            logger=quiet,
            retry_handlers=[
                ConnectionErrorRetryHandler(
                    max_retry_count=retries,
                    interval_calculator=BackoffRetryIntervalCalculator(backoff_base_s),
                    error_types=connection_errors,
                ),
                _StatusRetryHandler(retries, backoff_base_s, max_wait_s),
            ],
        )

    def post_message(
        self, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        """Send one message; raise SlackPostError unless Slack returns 200 ``ok``."""
        check_message(text, blocks)
        try:
            response = self._client.send(text=text, blocks=blocks)
        except OSError as exc:  # URLError and socket timeouts are OSErrors
            raise SlackPostError(
                f"Slack webhook at {self.host} is unreachable ({type(exc).__name__}); "
                "check the webhook URL and the network"
            ) from exc
        if response.status_code != 200 or (response.body or "").strip() != "ok":
            body = " ".join((response.body or "").split())[:100]
            raise SlackPostError(
                f"Slack webhook at {self.host} returned HTTP {response.status_code} "
                f"{body!r}; {_status_advice(response.status_code)}",
                status=response.status_code,
            )


def _status_advice(status: int) -> str:
    """Return what to do about a Slack webhook's failed response, by its status."""
    if status == 429:
        return (
            "Slack limits the posts to this webhook, so the message was dropped. "
            "Give leadshare a webhook of its own if other tools post to it"
        )
    if status >= 500:
        return "Slack failed to take the message; later runs post as usual"
    return "check that the webhook is still installed and its URL is complete"


@dataclass(frozen=True)
class SlackMessage:
    text: str
    blocks: list[dict[str, Any]] | None


@dataclass
class FakeSlackClient:
    """Records messages after the same personal-data check; ``fail_with`` raises."""

    messages: list[SlackMessage] = field(default_factory=list)
    fail_with: Exception | None = None

    def post_message(
        self, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        check_message(text, blocks)
        if self.fail_with is not None:
            raise self.fail_with
        self.messages.append(SlackMessage(text, blocks))
