"""Phone numbers removed from the free-text notes of leads marked do-not-call.

The store keeps the notes as typed. Removal happens when a partner's due transfers
are read, so every channel (webhook, file drop, CRM export, manual handoff) sends
the redacted text, and a rebuilt webhook payload is redacted too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import phonenumbers

PHONE_REMOVED = "[phone removed]"
"""Marker that replaces each phone number removed from a text."""

DIGIT_RUN = re.compile(r"[+(]?\d(?:[ \t./()\u2010-\u2015-]{0,2}\d){6,}")
"""Seven or more digits where each two neighbours are apart by at most two spaces,
tabs, dots, slashes, parentheses, hyphens or dashes, with an optional leading
plus sign or parenthesis."""

UNKNOWN_REGION = "ZZ"
"""phonenumbers' region code for "unknown": only numbers that start with + match."""


def remove_phone_numbers(text: str, region: str | None) -> str:
    """Replace each phone number in ``text`` with :data:`PHONE_REMOVED`.

    Two passes run. phonenumbers' matcher at leniency VALID finds the valid numbers
    of ``region`` (an ISO 3166 alpha-2 code, the lead's country) and of any country
    when written with a leading +. Leniency POSSIBLE is not used because it takes
    short counts such as "50 seats" for German numbers. Then every remaining
    :data:`DIGIT_RUN` goes as well, whatever the region. That pass also removes
    dates such as 2026-12-01 and amounts written with dots such as 1.000.000,
    which is accepted because a number missed would reach a partner.
    """
    code = (region or UNKNOWN_REGION).strip().upper() or UNKNOWN_REGION
    pieces = []
    end = 0
    matcher = phonenumbers.PhoneNumberMatcher(
        text, code, leniency=phonenumbers.Leniency.VALID
    )
    for match in matcher:
        pieces.append(text[end : match.start])
        pieces.append(PHONE_REMOVED)
        end = match.end
    pieces.append(text[end:])
    return DIGIT_RUN.sub(PHONE_REMOVED, "".join(pieces))


def redact_do_not_call_notes(rows: Iterable[dict[str, Any]]) -> int:
    """Remove phone numbers from ``notes`` of the rows whose ``do_not_call`` is set.

    Each row is a due transfer with its lead's fields, changed in place. Returns
    how many rows had text removed.
    """
    changed = 0
    for row in rows:
        notes = row.get("notes")
        if not row.get("do_not_call") or not isinstance(notes, str) or not notes:
            continue
        redacted = remove_phone_numbers(notes, row.get("country"))
        if redacted != notes:
            row["notes"] = redacted
            changed += 1
    return changed
