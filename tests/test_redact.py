"""Phone numbers removed from the notes of do-not-call leads before delivery."""

from __future__ import annotations

import pytest

from leadshare.transfer.redact import (
    PHONE_REMOVED,
    redact_do_not_call_notes,
    remove_phone_numbers,
)

GONE = PHONE_REMOVED


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("Call 030 12345678 after 3pm", "DE", f"Call {GONE} after 3pm"),
        ("mobile 0151 2345 6789.", "DE", f"mobile {GONE}."),
        ("cell +1 (415) 555-0132 or office", None, f"cell {GONE} or office"),
        ("office 020 7946 0958", "GB", f"office {GONE}"),
        ("+33 1 23 45 67 89", "", GONE),
        # National numbers of another country are caught as digit runs.
        ("ring 030 12345678", "US", f"ring {GONE}"),
        ("fax 030/1234-5679", None, f"fax {GONE}"),
        ("number 1234567", None, f"number {GONE}"),
        # Groups apart by a spaced dash, slash or dot.
        ("Handy 0151 – 234 – 56 – 78 bitte", "DE", f"Handy {GONE} bitte"),
        ("Büro 030 / 12 / 34 / 56", "US", f"Büro {GONE}"),
        ("0 3 0 . 5 5 . 4 4 . 3 3", "US", GONE),
        ("US test number 555-0132", "US", f"US test number {GONE}"),
        ("short +49 30 12345 line", None, f"short {GONE} line"),
        ("two: 0301234567 and 040 98 76 54", "de", f"two: {GONE} and {GONE}"),
        ("full-width ０３０１２３４５６７８", "DE", f"full-width {GONE}"),
        # Toll-free numbers spelt with letters.
        ("call 1-800-FLOWERS today", "US", f"call {GONE} today"),
        ("or 800-GO-FEDEX", None, f"or {GONE}"),
        ("hotline (888) 555-TAXI.", "US", f"hotline {GONE}."),
    ],
)
def test_phone_numbers_replaced(text, region, expected):
    assert remove_phone_numbers(text, region) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Pilot for 50 seats",
        "Budget approved for Q3, decision by the CFO",
        'Said "call after 3pm", prefers email',
        "ticket 123-456",
        "800 EMPLOYEES in 3 sites",
        "ISO 9001 CERTIFIED",
        "",
    ],
)
def test_text_without_numbers_kept(text):
    assert remove_phone_numbers(text, "DE") == text


def test_long_digit_runs_removed_too():
    # A date or an amount with dots has seven or more digits as well, and goes too.
    # Commas are no phone separator, so an amount with commas stays.
    text = "budget 1.000.000 or 1,000,000 USD by 2026-12-01"
    assert remove_phone_numbers(text, None) == (
        f"budget {GONE} or 1,000,000 USD by {GONE}"
    )


def test_only_do_not_call_rows_redacted():
    notes = "call 030 12345678"
    rows = [
        {"do_not_call": True, "country": "DE", "notes": notes},
        {"do_not_call": False, "country": "DE", "notes": notes},
        {"do_not_call": None, "country": "DE", "notes": notes},
        {"do_not_call": True, "country": "DE", "notes": None},
        {"country": "DE", "notes": notes},
    ]

    changed = redact_do_not_call_notes(rows)

    assert changed == 1
    assert rows[0]["notes"] == f"call {GONE}"
    assert [row["notes"] for row in rows[1:]] == [notes, notes, None, notes]
