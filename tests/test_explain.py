"""The words of `leadshare explain`: decisions read once, partners grouped by reason."""

from __future__ import annotations

import json

from leadshare.explain import _decision_lines


def _row(exclusions: dict[str, str]) -> dict:
    return {
        "candidates": json.dumps([]),
        "exclusions": json.dumps(exclusions),
        "rules_version": "r1",
        "config_digest": "abc",
        "chosen_partner": None,
    }


def test_same_reason_one_line():
    lines = _decision_lines(
        _row(
            {
                "P-B": "country (missing) is outside territory",
                "P-A": "country (missing) is outside territory",
            }
        )
    )
    assert "  excluded P-A, P-B: country (missing) is outside territory" in lines
    assert len(lines) == 2


def test_different_reasons_own_lines():
    lines = _decision_lines(_row({"P-A": "paused", "P-B": "capacity_full"}))
    assert "  excluded P-A: paused" in lines
    assert "  excluded P-B: capacity_full" in lines
