"""Counts in words."""

from __future__ import annotations

import pytest

from leadshare.words import counted


@pytest.mark.parametrize(
    ("number", "expected"),
    [(0, "0 rows"), (1, "1 row"), (2, "2 rows"), (1234567, "1,234,567 rows")],
)
def test_counted_row(number, expected):
    assert counted(number, "row") == expected


def test_irregular_plural():
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(3, "entry", "entries") == "3 entries"
