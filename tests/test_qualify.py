"""Qualification: points, threshold, exclusions with the failing value, freshness, strategic."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from leadshare.config import Rules
from leadshare.qualify import HEAD_COUNT, qualify, read_amount, recheck_waiting

NOW = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
RULES = Rules.model_validate(
    {
        "version": "t",
        "threshold": 20,
        "points": [
            {"field": "lead_source", "any_of": ["Referral"], "points": 20},
            {"field": "engagement", "at_least": 10, "points": 10},
            {"field": "company", "present": True, "points": 5},
        ],
        "exclusions": {
            "competitor_domains": ["rivalcorp.example"],
            "unsupported_countries": ["KP"],
            "free_mail_domains": ["gmail.com"],
            "b2b_only": True,
        },
        "freshness_days": 30,
        "strategic": {"named_accounts": ["globex"], "min_company_size": 5000},
    }
)


def _frame(**columns) -> pd.DataFrame:
    base = {
        "email_key": "a@corp.example",
        "country_code": "DE",
        "lead_source": "referral",
        "engagement": "12",
        "company": "Corp",
        "company_key": "corp",
        "company_size": "10",
        "last_activity_at": "2026-12-01T10:00:00Z",
        "outcome": None,
    }
    base.update(columns)
    return pd.DataFrame([base])


def test_points_add_up_case_insensitive():
    result = qualify(_frame(), RULES, NOW)
    assert result.loc[0, "score"] == 35
    assert pd.isna(result.loc[0, "outcome"])


def test_below_threshold_names_score():
    result = qualify(_frame(lead_source="web", engagement="1"), RULES, NOW)
    assert result.loc[0, "rule"] == "score_below_threshold"
    assert "score 5 is below the threshold 20" in result.loc[0, "reason"]


@pytest.mark.parametrize("engagement", ["Infinity", "1e400", "-inf", "NaN"])
def test_infinite_engagement_earns_nothing(engagement):
    result = qualify(_frame(engagement=engagement), RULES, NOW)

    assert result.loc[0, "score"] == 25


def test_competitor_domain_rejected():
    result = qualify(_frame(email_key="x@rivalcorp.example"), RULES, NOW)
    assert result.loc[0, "rule"] == "competitor_domain"
    assert "rivalcorp.example" in result.loc[0, "reason"]


def test_unsupported_country_rejected():
    result = qualify(_frame(country_code="KP"), RULES, NOW)
    assert result.loc[0, "rule"] == "unsupported_country"


def test_free_mail_rejected_when_b2b_only():
    result = qualify(_frame(email_key="x@gmail.com"), RULES, NOW)
    assert result.loc[0, "rule"] == "free_mail_domain"


def test_stale_engagement_rejected():
    result = qualify(_frame(last_activity_at="2026-09-01T00:00:00Z"), RULES, NOW)
    assert result.loc[0, "rule"] == "stale"
    assert "2026-09-01" in result.loc[0, "reason"]


def test_missing_timestamp_counts_as_fresh():
    result = qualify(_frame(last_activity_at=None), RULES, NOW)
    assert pd.isna(result.loc[0, "outcome"])


def test_finished_rows_left_alone():
    result = qualify(
        _frame(outcome="duplicate", email_key="x@rivalcorp.example"), RULES, NOW
    )
    assert result.loc[0, "outcome"] == "duplicate"


def test_strategic_named_account_and_size():
    named = qualify(_frame(company_key="globex"), RULES, NOW)
    large = qualify(_frame(company_size="12000"), RULES, NOW)
    assert named.loc[0, "strategic"] == "named account globex"
    assert large.loc[0, "strategic"] == "company size >= 5000"


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12000", 12000.0),
        ("12,000", 12000.0),
        ("12 000", 12000.0),
        ("12'000", 12000.0),
        ("1.000.000", 1000000.0),
        ("10000+", 10000.0),
        ("$75M", 75000000.0),
        ("€ 1.2M", 1200000.0),
        ("2bn", 2e9),
        ("500k", 500000.0),
        ("1,001-5,000", 1001.0),
        ("10k to 50k", 10000.0),
        ("12.5", 12.5),
        ("1.2B", 1.2e9),
        ("€75 Mio", 75e6),
        ("USD 75,000,000", 75e6),
        ("75,000,000 EUR", 75e6),
        ("10,000+ employees", 10000.0),
        ("≥10000", 10000.0),
        ("over 5,000", 5000.0),
    ],
)
def test_amount_forms_read(text, number):
    assert read_amount(text) == number


@pytest.mark.parametrize("text", ["abc", "1,5", "12,00", "ten", "", "5 %"])
def test_amount_non_numbers_nan(text):
    assert pd.isna(read_amount(text))


@pytest.mark.parametrize("size", ["12,000", "10000+", "12 000", "5,000-9,999"])
def test_strategic_size_with_separators(size):
    result = qualify(_frame(company_size=size), RULES, NOW)

    assert result.loc[0, "strategic"] == "company size >= 5000"


def test_named_account_with_legal_suffix():
    rules = RULES.model_copy(
        update={
            "strategic": RULES.strategic.model_copy(
                update={"named_accounts": ["Initech Inc.", "UMBRELLA Corp"]}
            )
        }
    )

    initech = qualify(_frame(company_key="initech"), rules, NOW)
    umbrella = qualify(_frame(company_key="umbrella"), rules, NOW)
    other = qualify(_frame(company_key="initech labs"), rules, NOW)

    assert initech.loc[0, "strategic"] == "named account initech"
    assert umbrella.loc[0, "strategic"] == "named account umbrella"
    assert other.loc[0, "strategic"] is None


def test_naive_timestamp_is_utc_whatever_the_row_before():
    frame = pd.concat(
        [
            _frame(last_activity_at="2026-10-20T01:00:00+05:00"),
            _frame(last_activity_at="2026-10-20 01:00:00"),
        ],
        ignore_index=True,
    )
    rules = RULES.model_copy(update={"freshness_days": 45})
    result = qualify(frame, rules, NOW)
    assert "2026-10-19 is older" in result.loc[0, "reason"]
    assert "2026-10-20 is older" in result.loc[1, "reason"]


@pytest.mark.parametrize(
    "value",
    [
        "last tuesday",
        "11/03/2024 10:00",
        "1604377235",
        "2026-02-30",
        "0000-00-00",
        "infinity",
        "-infinity",
        "294247-01-01",
        "epoch",
        "today",
        "2026-12-01T10:00:00+25:00",
        "2026-12-01T10:00:00+12:99",
        "20261201T1000+1500",
        "2026-12-01T10:00:00+14:30",
        "2026-12-01T10:00:00 CET",
        "2026-12-01T10:00:00 America/New_York",
    ],
)
def test_unreadable_timestamp_disqualified(value):
    result = qualify(_frame(last_activity_at=value), RULES, NOW)

    assert result.loc[0, "outcome"] == "disqualified"
    assert result.loc[0, "rule"] == "last_activity_unreadable"
    assert repr(value) in result.loc[0, "reason"]


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("20261201T100000Z", "2026-12-01"),
        ("2026-W49-2", "2026-12-01"),
        ("2026-W49-2T23:00-14:00", "2026-12-02"),
        ("2026-12-01T10:00:00+14:00", "2026-11-30"),
    ],
)
def test_other_iso_forms_are_read(value, day):
    result = qualify(_frame(last_activity_at=value), RULES, NOW)
    assert result.loc[0, "outcome"] is None
    stale = qualify(
        _frame(last_activity_at=value), RULES.model_copy(update={"freshness_days": 1}), NOW
    )
    assert stale.loc[0, "rule"] == "stale"
    assert f"{day} is older" in stale.loc[0, "reason"]


def test_year_one_is_written_with_four_digits():
    result = qualify(_frame(last_activity_at="0001-01-01"), RULES, NOW)
    assert result.loc[0, "reason"].startswith("last engagement 0001-01-01 is older")


@pytest.mark.parametrize("value", ["2027-06-01T00:00:00Z", "2099-01-01", "9999-12-31"])
def test_future_timestamp_disqualified(value):
    result = qualify(_frame(last_activity_at=value), RULES, NOW)

    assert result.loc[0, "outcome"] == "disqualified"
    assert result.loc[0, "rule"] == "last_activity_in_future"


def test_timestamp_checks_by_row():
    values = [
        "  2026-12-01  ",
        "",
        "2026-12-05T06:00:00Z",
        "Nov 3 2024",
        "2026-09-01T00:00:00Z",
        "2026-12-20",
        None,
    ]
    frame = pd.concat(
        [_frame(last_activity_at=value) for value in values], ignore_index=True
    )
    frame.loc[1, "outcome"] = "duplicate"

    result = qualify(frame, RULES, NOW)

    assert result["rule"].tolist() == [
        None,
        None,
        None,
        "last_activity_unreadable",
        "stale",
        "last_activity_in_future",
        None,
    ]
    assert result.loc[1, "outcome"] == "duplicate"
    assert "2026-12-20 00:00 UTC" in result.loc[5, "reason"]


US, DE = "1,234.56", "1.234,56"
NAN = float("nan")


@pytest.mark.parametrize(
    ("text", "default", "german", "head_count"),
    [
        ("12.000", NAN, 12000.0, 12000.0),
        ("1.200.000", 1200000.0, 1200000.0, 1200000.0),
        ("12.5", 12.5, NAN, 12.5),
        ("12,000", 12000.0, NAN, 12000.0),
        ("1,000,000", 1000000.0, 1000000.0, 1000000.0),
        ("1,234.56", 1234.56, NAN, 1234.56),
        ("1.234,56", NAN, 1234.56, NAN),
        ("12,5", NAN, 12.5, NAN),
        ("€ 1.200.000,50", NAN, 1200000.5, NAN),
        ("1,2 Mio", NAN, 1200000.0, NAN),
        ("1.2M", 1200000.0, NAN, 1200000.0),
        ("10.000-50.000", NAN, 10000.0, 10000.0),
        ("5,000-12.000", NAN, NAN, 5000.0),
        ("over 5.000", NAN, 5000.0, 5000.0),
        ("12.000 employees", NAN, 12000.0, 12000.0),
        ("12 000", 12000.0, 12000.0, 12000.0),
        ("1234.000", 1234.0, NAN, 1234.0),
    ],
)
def test_amount_read_per_form(text, default, german, head_count):
    for form, expected in ((US, default), (DE, german), (HEAD_COUNT, head_count)):
        number = read_amount(text, form)
        if pd.isna(expected):
            assert pd.isna(number), (form, number)
        else:
            assert number == expected, form


def test_dotted_size_is_thousands():
    result = qualify(_frame(company_size="12.000"), RULES, NOW)

    assert result.loc[0, "strategic"] == "company size >= 5000"
    assert result.loc[0, "unreadable_amount"] is None


REVENUE_RULES = RULES.model_copy(
    update={"strategic": RULES.strategic.model_copy(update={"min_annual_revenue": 5e7})}
)


@pytest.mark.parametrize(
    ("revenue", "number_format", "strategic"),
    [
        ("75.000.000", US, "annual revenue >= 50,000,000"),
        ("75,000,000", US, "annual revenue >= 50,000,000"),
        ("75.000.000,00", DE, "annual revenue >= 50,000,000"),
        ("75 Mio", DE, "annual revenue >= 50,000,000"),
        ("40.000.000,00", DE, None),
    ],
)
def test_revenue_in_profile_format(revenue, number_format, strategic):
    frame = _frame(annual_revenue=revenue)

    result = qualify(frame, REVENUE_RULES, NOW, number_format)

    assert result.loc[0, "strategic"] == strategic
    assert result.loc[0, "unreadable_amount"] is None


@pytest.mark.parametrize(
    ("revenue", "number_format"),
    [("75.000", US), ("75,000", DE), ("75.000.000,00", US), ("about a lot", US)],
)
def test_unreadable_revenue_named(revenue, number_format):
    result = qualify(_frame(annual_revenue=revenue), REVENUE_RULES, NOW, number_format)

    reason = result.loc[0, "unreadable_amount"]
    other = DE if number_format == US else US
    assert pd.isna(result.loc[0, "outcome"])
    assert result.loc[0, "strategic"] is None
    assert reason.startswith(f"annual revenue {revenue!r} is not a number")
    assert f"number_format '{number_format}'" in reason
    assert f"set number_format: '{other}' in its profile" in reason
    assert "`leadshare approvals`" in reason


def test_unreadable_size_named():
    result = qualify(_frame(company_size="12,5 Tsd."), RULES, NOW)

    reason = result.loc[0, "unreadable_amount"]
    assert pd.isna(result.loc[0, "outcome"])
    assert reason.startswith("company size '12,5 Tsd.' is not a number")
    assert "rules on company size could not use it" in reason
    assert "`leadshare approvals`" in reason


@pytest.mark.parametrize("size", ["-5", " −120 employees"])
def test_negative_size_named_below_zero(size):
    result = qualify(_frame(company_size=size), RULES, NOW)

    reason = result.loc[0, "unreadable_amount"]
    assert reason.startswith(f"company size {size!r} is below zero, so the rules")
    assert "not a number" not in reason
    assert "`leadshare approvals`" in reason


def test_negative_revenue_named_below_zero():
    result = qualify(_frame(annual_revenue="-5000"), REVENUE_RULES, NOW)

    reason = result.loc[0, "unreadable_amount"]
    assert reason.startswith("annual revenue '-5000' is below zero, so the rules")
    assert "number_format" not in reason


def test_both_unreadable_in_one_reason():
    frame = _frame(company_size="many", annual_revenue="75.000")

    result = qualify(frame, REVENUE_RULES, NOW)

    reason = result.loc[0, "unreadable_amount"]
    assert "company size 'many'" in reason
    assert "; annual revenue '75.000'" in reason


@pytest.mark.parametrize("size", [None, "", "  "])
def test_blank_size_not_held(size):
    result = qualify(_frame(company_size=size), RULES, NOW)

    assert result.loc[0, "unreadable_amount"] is None


def test_unread_field_nothing_reads_not_held():
    # RULES has no revenue threshold and no score rule on revenue.
    result = qualify(_frame(annual_revenue="75.000"), RULES, NOW)

    assert result.loc[0, "unreadable_amount"] is None


def test_score_rule_makes_size_checked():
    data = RULES.model_dump()
    data["strategic"]["min_company_size"] = None
    data["points"].append({"field": "company_size", "at_least": 50, "points": 5})
    rules = Rules.model_validate(data)

    result = qualify(_frame(company_size="lots"), rules, NOW)

    assert "company size 'lots'" in result.loc[0, "unreadable_amount"]


def test_disqualified_row_not_flagged():
    result = qualify(_frame(company_size="lots", country_code="KP"), RULES, NOW)

    assert result.loc[0, "outcome"] == "disqualified"
    assert result.loc[0, "unreadable_amount"] is None


def test_recheck_reads_revenue_per_profile():
    frame = pd.concat(
        [
            _frame(annual_revenue="75.000.000,00", profile="german"),
            _frame(annual_revenue="75.000.000,00", profile="generic"),
            _frame(annual_revenue="75.000.000,00", profile="removed"),
        ],
        ignore_index=True,
    )
    formats = {"german": DE, "generic": US}

    result = recheck_waiting(frame, REVENUE_RULES, NOW, formats)

    assert result["strategic"].tolist() == ["annual revenue >= 50,000,000", None, None]
    assert result.loc[0, "unreadable_amount"] is None
    assert "number_format '1,234.56'" in result.loc[1, "unreadable_amount"]
    assert "number_format '1,234.56'" in result.loc[2, "unreadable_amount"]
