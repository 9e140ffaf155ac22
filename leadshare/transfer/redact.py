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

DIGIT_RUN = re.compile(r"[+(]?\d(?:[ \t./()\u2010-\u2015-]{0,3}\d){6,}")
"""Seven or more digits where each two neighbours are apart by at most three
spaces, tabs, dots, slashes, parentheses, hyphens or dashes, with an optional
leading plus sign or parenthesis. Three covers a dash or slash with a space on
each side, as in "0151 – 234 – 56 – 78"."""

_TOLL_FREE = r"8(?:00|33|44|55|66|77|88)"
VANITY_NUMBER = re.compile(
    rf"(?:\+?1[ .-]?\(?{_TOLL_FREE}\)?[ .-]?|\({_TOLL_FREE}\) ?|{_TOLL_FREE}[-.])"
    r"(?=[A-Z0-9-]*[A-Z])[A-Z0-9](?:-?[A-Z0-9]){5,9}\b"
)
"""A North American toll-free number written with letters, such as 1-800-FLOWERS
or 800-GO-FEDEX: area code 800, 833, 844, 855, 866, 877 or 888, then seven to ten
capital letters and digits, at least one a letter. Without a leading 1 or
parentheses, the area code must be followed by a hyphen or dot, so that "800
EMPLOYEES" stays."""

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
    which is accepted because a number missed would reach a partner. A last pass
    removes toll-free numbers spelt with letters (:data:`VANITY_NUMBER`).
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
    digits_removed = DIGIT_RUN.sub(PHONE_REMOVED, "".join(pieces))
    return VANITY_NUMBER.sub(PHONE_REMOVED, digits_removed)


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
