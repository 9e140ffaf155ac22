"""Counts and times in words for messages: "1 row", "2 rows", "... 07:00:05 UTC"."""

from __future__ import annotations

import datetime as dt


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """Return ``number`` with ``noun`` in the singular or plural (default: noun + s)."""
    word = noun if number == 1 else (plural or noun + "s")
    return f"{number:,} {word}"


def utc_text(moment: dt.datetime | str | None) -> str:
    """Return a stored time as "2026-12-06 07:00:05 UTC", whatever its time zone.

    A time without a zone is taken as UTC, and text is cut to the second.
    """
    if moment is None:
        return "-"
    if isinstance(moment, str):
        return f"{moment[:19].replace('T', ' ')} UTC"
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def utc_iso(moment: dt.datetime | str | None) -> str | None:
    """Return a stored time as ISO 8601 in UTC for JSON; None stays None.

    A time without a zone is taken as UTC, and text is returned as it is.
    """
    if moment is None or isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC).isoformat()
    return moment.astimezone(dt.UTC).isoformat()
