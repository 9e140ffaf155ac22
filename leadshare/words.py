"""Counts in words for log lines and messages: "1 row", "2 rows"."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """Return ``number`` with ``noun`` in the singular or plural (default: noun + s)."""
    word = noun if number == 1 else (plural or noun + "s")
    return f"{number:,} {word}"
