"""Qualification: score points, threshold, exclusion lists, freshness, strategic flag.

Every rejected row gets outcome ``disqualified`` with the rule id and the value that
failed it. The checks run in a fixed order (exclusions, freshness, score) so the
recorded rule is the first one a row fails.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from leadshare.config import Rules, ScoreRule
from leadshare.model import Outcome


def _text(frame: pd.DataFrame, field: str) -> pd.Series:
    if field not in frame.columns:
        return pd.Series(pd.NA, index=frame.index, dtype="string[pyarrow]")
    return frame[field].astype("string[pyarrow]").str.strip().str.casefold()


def _numeric(frame: pd.DataFrame, field: str) -> pd.Series:
    if field not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[field], errors="coerce")


def _rule_hits(frame: pd.DataFrame, rule: ScoreRule) -> pd.Series:
    if rule.equals is not None:
        return _text(frame, rule.field).eq(rule.equals.casefold()).fillna(False)
    if rule.any_of is not None:
        expected = [value.casefold() for value in rule.any_of]
        return _text(frame, rule.field).isin(expected).fillna(False)
    if rule.at_least is not None:
        return _numeric(frame, rule.field).ge(rule.at_least).fillna(False)
    if rule.present is not None:
        return _text(frame, rule.field).notna().eq(rule.present)
    raise ValueError(f"score rule on {rule.field!r} has no condition")


def score_leads(frame: pd.DataFrame, rules: Rules) -> pd.Series:
    """Sum the configured points per row."""
    score = pd.Series(0.0, index=frame.index)
    for rule in rules.points:
        score = score + _rule_hits(frame, rule).astype(float) * rule.points
    return score


def _email_domain(frame: pd.DataFrame) -> pd.Series:
    key = frame["email_key"] if "email_key" in frame.columns else None
    if key is None:
        return pd.Series(pd.NA, index=frame.index, dtype="string[pyarrow]")
    return key.astype("string[pyarrow]").str.rsplit("@", n=1).str[-1]


def _reject(
    frame: pd.DataFrame, mask: pd.Series, rule: str, reasons: pd.Series | str
) -> None:
    mask = mask & frame["outcome"].isna()
    if not mask.any():
        return
    frame.loc[mask, "outcome"] = Outcome.DISQUALIFIED.value
    frame.loc[mask, "rule"] = rule
    frame.loc[mask, "reason"] = (
        reasons[mask] if isinstance(reasons, pd.Series) else reasons
    )


def _check_exclusions(frame: pd.DataFrame, rules: Rules) -> None:
    exclusions = rules.exclusions
    domain = _email_domain(frame)
    competitors = {name.casefold() for name in exclusions.competitor_domains}
    _reject(
        frame,
        domain.isin(competitors).fillna(False),
        "competitor_domain",
        "e-mail domain " + domain.fillna("") + " is on the competitor list",
    )
    country = frame.get("country_code", pd.Series(pd.NA, index=frame.index)).astype(
        "string[pyarrow]"
    )
    unsupported = {code.upper() for code in exclusions.unsupported_countries}
    _reject(
        frame,
        country.isin(unsupported).fillna(False),
        "unsupported_country",
        "country " + country.fillna("") + " is not supported by the program",
    )
    if exclusions.b2b_only:
        free = {name.casefold() for name in exclusions.free_mail_domains}
        _reject(
            frame,
            domain.isin(free).fillna(False),
            "free_mail_domain",
            "free-mail domain " + domain.fillna("") + " and the program is B2B only",
        )


def _check_freshness(frame: pd.DataFrame, rules: Rules, now: dt.datetime) -> None:
    """Reject leads whose last engagement is older than ``freshness_days``.

    A lead without a timestamp counts as engaged when its file arrived, which is now.
    """
    if rules.freshness_days is None or "last_activity_at" not in frame.columns:
        return
    seen = pd.to_datetime(
        frame["last_activity_at"], errors="coerce", utc=True, format="ISO8601"
    )
    cutoff = pd.Timestamp(now - dt.timedelta(days=rules.freshness_days))
    stale = seen.lt(cutoff).fillna(False) & frame["outcome"].isna()
    reasons = pd.Series(None, index=frame.index, dtype=object)
    reasons[stale] = (
        "last engagement "
        + seen[stale].dt.strftime("%Y-%m-%d")
        + f" is older than {rules.freshness_days} days"
    )
    _reject(frame, stale, "stale", reasons)


def flag_strategic(frame: pd.DataFrame, rules: Rules) -> pd.Series:
    """Return the reason a row is a strategic account, or NA when it is not."""
    strategic = rules.strategic
    reason = pd.Series(pd.NA, index=frame.index, dtype="string[pyarrow]")
    if strategic.min_annual_revenue is not None:
        revenue = _numeric(frame, "annual_revenue")
        hit = revenue.ge(strategic.min_annual_revenue).fillna(False)
        reason = reason.mask(
            hit & reason.isna(),
            f"annual revenue >= {strategic.min_annual_revenue:,.0f}",
        )
    if strategic.min_company_size is not None:
        size = _numeric(frame, "company_size")
        hit = size.ge(strategic.min_company_size).fillna(False)
        reason = reason.mask(
            hit & reason.isna(), f"company size >= {strategic.min_company_size}"
        )
    if strategic.named_accounts:
        names = {name.casefold() for name in strategic.named_accounts}
        company = frame.get("company_key", pd.Series(pd.NA, index=frame.index)).astype(
            "string[pyarrow]"
        )
        hit = company.isin(names).fillna(False)
        reason = reason.mask(hit, "named account " + company.fillna(""))
    return reason


def qualify(frame: pd.DataFrame, rules: Rules, now: dt.datetime) -> pd.DataFrame:
    """Score live rows, disqualify the ones that fail a rule, flag strategic accounts."""
    live = frame["outcome"].isna()
    frame["score"] = np.nan
    frame.loc[live, "score"] = score_leads(frame.loc[live], rules)
    _check_exclusions(frame, rules)
    _check_freshness(frame, rules, now)
    below = frame["score"].lt(rules.threshold) & frame["outcome"].isna()
    _reject(
        frame,
        below,
        "score_below_threshold",
        "score "
        + frame["score"].map("{:g}".format)
        + f" is below the threshold {rules.threshold:g}",
    )
    frame["strategic"] = flag_strategic(frame, rules).where(frame["outcome"].isna())
    return frame
