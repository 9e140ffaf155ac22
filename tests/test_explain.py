"""The words of `leadshare explain`: decisions read once, partners grouped by reason."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from leadshare.config import Partner, Rules, ScoreRule
from leadshare.explain import (
    _decision_lines,
    _offered_again_line,
    _outcome_line,
    _partner_wait_lines,
    _row_number_lines,
    _score_rule_lines,
)

CANDIDATE = {
    "partner": "P-A",
    "tier": "gold",
    "performance": 0.6,
    "load_before": 4,
    "capacity_left": 296,
    "score": 0.673,
}


def _row(exclusions: dict[str, str], candidates: list[dict] | None = None) -> dict:
    return {
        "candidates": json.dumps(candidates or []),
        "exclusions": json.dumps(exclusions),
        "rules_version": "r1",
        "config_digest": "abc",
        "chosen_partner": None,
    }


def _outcome(outcome: str, rule: str | None, reason: str, **extra) -> dict:
    return {
        "outcome": outcome,
        "rule": rule,
        "reason": reason,
        "candidates": None,
        "group_id": None,
        **extra,
    }


def _rules(freshness_days: int | None = 45) -> Rules:
    return Rules(
        version="2026.12-1",
        threshold=20,
        freshness_days=freshness_days,
        points=[
            ScoreRule(field="lead_source", any_of=["referral", "event"], points=20),
            ScoreRule(field="engagement", at_least=3, points=10),
            ScoreRule(field="email_key", present=True, points=10),
            ScoreRule(field="company", equals="Globex", points=-5),
        ],
    )


def test_missing_country_said_once():
    lines = _decision_lines(
        _row(
            {
                "P-B": "country (missing) is outside territory ['DE', 'AT']",
                "P-A": "country (missing) is outside territory ['US']",
            }
        )
    )
    assert lines[1] == (
        "  excluded P-A, P-B: the lead has no country, and each of these partners "
        "covers a list of countries"
    )
    assert len(lines) == 2


def test_different_reasons_own_lines():
    lines = _decision_lines(_row({"P-A": "paused", "P-B": "capacity_full"}))
    assert "  excluded P-A: paused" in lines
    assert "  excluded P-B: capacity_full" in lines


def test_candidate_line_names_partner_fit():
    lines = _decision_lines(_row({}, [CANDIDATE]))
    assert lines[1].startswith("  partner fit = 0.5 x tier weight + 0.3 x performance")
    assert "0.4 x leads this week / weekly capacity" in lines[1]
    assert lines[2] == (
        "  candidate P-A: partner fit 0.673 (tier gold, performance 0.6, leads "
        "already this week 4, capacity left 296)"
    )
    assert not any("marginal" in line or "load before" in line for line in lines)


def test_one_candidate_is_only_partner():
    row = _outcome(
        "shared",
        "matched",
        "highest marginal score among 1 eligible partner(s)",
        candidates=json.dumps([CANDIDATE]),
    )
    line = _outcome_line(row, None)
    assert line == "Outcome: shared (rule matched): the only eligible partner"


def test_several_candidates_best_fit():
    row = _outcome(
        "shared",
        "matched",
        "highest marginal score among 2 eligible partner(s)",
        candidates=json.dumps([CANDIDATE, {**CANDIDATE, "partner": "P-B"}]),
    )
    line = _outcome_line(row, None)
    assert "the best partner fit of 2 eligible partners" in line
    assert "marginal" not in line


def test_rejection_names_approver():
    row = _outcome("disqualified", "rejected_by_approver", "rejected by maria: dup")
    approval = {"status": "rejected", "decided_by": "maria", "note": "dup"}
    line = _outcome_line(row, approval)
    assert line == "Outcome: rejected by maria (dup), so it is not shared."
    assert "rule" not in line


def test_other_outcome_keeps_rule_and_reason():
    row = _outcome("disqualified", "score_below_threshold", "score 10 is below 20")
    line = _outcome_line(row, None)
    assert line == (
        "Outcome: disqualified (rule score_below_threshold): score 10 is below 20"
    )


def test_score_rules_listed():
    lines = _score_rule_lines(_rules())
    assert "version 2026.12-1, threshold 20" in lines[0]
    assert "not recorded" in lines[0]
    assert lines[1:] == [
        "  +20 points if lead_source is one of referral, event",
        "  +10 points if engagement is at least 3",
        "  +10 points if email_key is present",
        "  -5 points if company is Globex",
    ]


def test_score_rules_without_config():
    lines = _score_rule_lines(None)
    assert lines == [
        "The score is the sum of the points of the lead's matching score rules "
        "(`points` in rules.yaml)."
    ]


def test_offered_again_for_freshness_days():
    assert "every later run for 45 days after it was stored" in (
        _offered_again_line(_rules())
    )
    assert "for 30 days" in _offered_again_line(_rules(freshness_days=None))
    assert "`freshness_days` (rules.yaml)" in _offered_again_line(None)


def test_row_numbers_by_file_kind():
    csv_line, jsonl_line = _row_number_lines(["Leads.csv", "more.jsonl", "b.CSV"])
    assert "leave out the header row" in csv_line
    assert "row N on line N + 1" in csv_line
    assert jsonl_line == (
        "Row numbers of a JSON Lines file count its non-blank lines from 1."
    )
    assert len(_row_number_lines(["Leads.csv"])) == 1


def test_empty_lead_id_named(home):
    from leadshare import cli

    result = CliRunner().invoke(cli.app, ["explain", ""])
    output = " ".join(result.output.split())

    assert "No lead (empty id) is recorded" in output


def _partner(**fields) -> Partner:
    return Partner(
        id="P-A",
        name="A",
        capacity_per_day=10,
        capacity_per_week=10,
        channel="file_drop",
        fields=["lead_id"],
        **fields,
    )


def test_pending_transfer_wait_named():
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    expired = _partner(agreement_expires=dt.date(2026, 12, 1))

    removed = _partner_wait_lines("P-GONE", [_partner()], now)
    paused = _partner_wait_lines("P-A", [_partner(status="paused")], now)
    ended = _partner_wait_lines("P-A", [expired], now)

    assert removed == [
        "It waits because P-GONE is not in partners.yaml. It goes out once the "
        "partner is added back with this id."
    ]
    assert "P-A is inactive (partner status is paused)" in paused[0]
    assert "partner agreement expired on 2026-12-01" in ended[0]
    assert _partner_wait_lines("P-A", [_partner()], now) == []
