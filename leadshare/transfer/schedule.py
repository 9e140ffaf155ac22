"""When a failed transfer is tried again."""

from __future__ import annotations

import datetime as dt

RETRY_DELAYS: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=5),
    dt.timedelta(hours=10),
    dt.timedelta(hours=10),
)
"""Delay after the 1st, 2nd, ... failed attempt; every later attempt waits 10 hours."""


def next_attempt_at(
    attempts: int, now: dt.datetime, retry_after_s: float | None = None
) -> dt.datetime:
    """Return when to try a transfer again after ``attempts`` failed attempts.

    The delay is the schedule's step for ``attempts`` or the partner's Retry-After,
    whichever is later. ``now`` must be timezone-aware.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1 after a failure, got {attempts}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")

    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    if retry_after_s is not None and retry_after_s > delay.total_seconds():
        delay = dt.timedelta(seconds=retry_after_s)
    return now + delay
