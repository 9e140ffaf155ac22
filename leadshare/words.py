"""Counts and times in words for messages: "1 row", "2 rows", "... 07:00:05 UTC"."""

from __future__ import annotations

import datetime as dt
import re


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


_EMAIL_LIKE = re.compile(r"\S@\S")
_PHONE_LIKE = re.compile(r"(?:\d\D{0,3}){7}")
_DATE_LIKE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")


def shown_value(value: object, limit: int = 40, numbers: bool = False) -> str:
    """Return a cell value quoted for a row's reason, unless it looks personal.

    A value with an e-mail address in it is named by its kind instead, because
    reasons are stored and shown by `rows` and `explain`. So is one with seven
    digits or more (a phone number) unless ``numbers`` is set, for columns of
    times and amounts. A date such as 02/01/2026 is shown. Values are cut to
    ``limit`` characters.
    """
    text = str(value).strip()
    if _EMAIL_LIKE.search(text):
        return "(an e-mail address, not shown)"
    if not numbers and _PHONE_LIKE.search(_DATE_LIKE.sub("", text)):
        return "(a number of 7 digits or more, not shown)"
    return repr(text[:limit])
