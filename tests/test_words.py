"""Counts in words, and cell values quoted in reasons."""

from __future__ import annotations

import pytest

from leadshare.words import counted, shown_value


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, "0 rows"), (1, "1 row"), (2, "2 rows"), (1234567, "1,234,567 rows")],
)
def test_counted_row(number, expected):
    assert counted(number, "row") == expected


def test_irregular_plural():
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(3, "entry", "entries") == "3 entries"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Nein", "'Nein'"),
        (" vielleicht ", "'vielleicht'"),
        ("02/01/2026", "'02/01/2026'"),
        ("2026-13-45T10:00:00", "'2026-13-45T10:00:00'"),
        ("sam.shift@private.example", "(an e-mail address, not shown)"),
        ("+49 30 1414141", "(a number of 7 digits or more, not shown)"),
        ("030 7777777", "(a number of 7 digits or more, not shown)"),
        ("x" * 50, repr("x" * 40)),
    ],
)
def test_shown_value_hides_contacts(value, shown):
    assert shown_value(value) == shown
