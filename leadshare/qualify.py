"""Qualification: score points, threshold, exclusion lists, freshness, strategic flag.

Every rejected row gets outcome ``disqualified`` with the rule id and the value that
failed it. The checks run in a fixed order (exclusions, freshness, score) so the
recorded rule is the first one a row fails.

Only rows without an outcome are read. Each rule is evaluated once per distinct value
of its field and spread back to the rows, because most values repeat: at 1M leads,
string methods applied per row took 16 s.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadshare.config import (
    DEFAULT_NUMBER_FORMAT,
    NUMBER_FORMATS,
    Rules,
    ScoreRule,
)
from leadshare.fields import company_key
from leadshare.model import Outcome
from leadshare.timestamps import NOT_ISO, check_timestamps, utc_minutes
from leadshare.words import counted, shown_value


class _Fields:
    """Live rows' fields, each factorised once into codes and distinct values.

    ``number_format`` is the source profile's way of writing annual revenue.
    """

    def __init__(
        self, frame: pd.DataFrame, number_format: str = DEFAULT_NUMBER_FORMAT
    ) -> None:
        self.frame = frame
        self.number_format = number_format
        self._encoded: dict[str, tuple[np.ndarray, pd.Series]] = {}
        self._numbers: dict[str, np.ndarray] = {}

    def encoded(self, field: str) -> tuple[np.ndarray, pd.Series]:
        if field not in self._encoded:
            if field in self.frame.columns:
                codes, uniques = pd.factorize(self.frame[field], use_na_sentinel=True)
                distinct = pd.Series(uniques, dtype=object)
            else:
                codes = np.full(len(self.frame), -1, dtype=np.intp)
                distinct = pd.Series([], dtype=object)
            self._encoded[field] = (codes, distinct)
        return self._encoded[field]

    def spread(
        self, field: str, per_value: Callable[[pd.Series], np.ndarray], missing
    ) -> np.ndarray:
        """Apply ``per_value`` to the distinct values; a missing value gets ``missing``."""
        codes, distinct = self.encoded(field)
        values = np.asarray(per_value(distinct))
        # Code -1 (missing) indexes the value appended last.
        return np.append(values, np.asarray([missing], dtype=values.dtype))[codes]

    def original(self, field: str) -> np.ndarray:
        """Return a field's values as they are (None where missing)."""
        return self.spread(field, lambda values: values.to_numpy(dtype=object), None)

    def text(self, field: str) -> np.ndarray:
        """Return the stripped, casefolded text of a field (None where missing)."""
        return self.spread(field, _folded, None)

    def number(self, field: str) -> np.ndarray:
        """Return a field as float (NaN where missing or not a number).

        Company size and annual revenue are read by :func:`read_amount` in their
        own forms, and other fields by pandas first.
        """
        if field not in self._numbers:
            form = self.amount_form(field)
            if form is None:
                reader = _as_number
            else:
                reader = functools.partial(_as_amount, form=form)
            numbers = self.spread(field, reader, np.nan)
            # "Infinity" or "1e400" would pass every at_least rule.
            numbers[~np.isfinite(numbers)] = np.nan
            self._numbers[field] = numbers
        return self._numbers[field]

    def amount_form(self, field: str) -> str | None:
        """Return the :func:`read_amount` form of ``field``; None if it has none."""
        if field == "company_size":
            return HEAD_COUNT
        if field == "annual_revenue":
            return self.number_format
        return None

    def present(self, field: str) -> np.ndarray:
        """Return whether each row has a value in ``field`` that is not blank."""

        def not_blank(values: pd.Series) -> np.ndarray:
            return values.astype(str).str.strip().ne("").to_numpy(dtype=bool)

        return self.spread(field, not_blank, False)


def _folded(values: pd.Series) -> np.ndarray:
    text = values.astype(str).str.strip().str.casefold()
    return text.to_numpy(dtype=object)


def _as_number(values: pd.Series) -> np.ndarray:
    """Read distinct values as numbers; see :func:`read_amount` for the forms."""
    plain = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    other = np.flatnonzero(np.isnan(plain) & values.notna().to_numpy())
    objects = values.to_numpy(dtype=object)
    for position in other:
        plain[position] = read_amount(objects[position])
    return plain


_PLAIN_NUMBER = r"\s*(?:\d+|\d+(?:\.\d+)?[eE][+-]?\d+)\s*"
"""Digits only, or scientific notation as spreadsheets export it (5.5E+07)."""


def _as_amount(values: pd.Series, form: str) -> np.ndarray:
    """Read distinct values of an amount field with :func:`read_amount` in ``form``.

    Plain digits and scientific notation go through pandas at once. Everything
    else, such as "12.000", must be read in the field's form, because pandas
    would take every dot for a decimal point.
    """
    text = values.astype(str)
    plain = text.str.fullmatch(_PLAIN_NUMBER).to_numpy(dtype=bool)
    numbers = np.full(len(values), np.nan)
    numbers[plain] = pd.to_numeric(text[plain], errors="coerce").to_numpy(dtype=float)
    objects = values.to_numpy(dtype=object)
    for position in np.flatnonzero(~plain & values.notna().to_numpy()):
        numbers[position] = read_amount(objects[position], form)
    return numbers


HEAD_COUNT = "head count"
"""The :func:`read_amount` form of company size, whatever the profile's format."""

_SPACES = "' \u00a0\u202f"
"""Thousands separators in every form: apostrophe, space and two no-break spaces."""

_NUMBER_TOKENS = {
    # Alternatives are tried in order: grouped thousands, then two or more groups of
    # the decimal mark (which can only be thousands), then a plain decimal.
    DEFAULT_NUMBER_FORMAT: (
        rf"\d{{1,3}}(?:[,{_SPACES}]\d{{3}})+(?:\.\d+)?"
        r"|\d{1,3}(?:\.\d{3}){2,}|\d+(?:\.\d+)?"
    ),
    "1.234,56": (
        rf"\d{{1,3}}(?:[.{_SPACES}]\d{{3}})+(?:,\d+)?"
        r"|\d{1,3}(?:,\d{3}){2,}|\d+(?:,\d+)?"
    ),
    # A head count is a whole number, so one or more dot groups of exactly three
    # digits are thousands: 12.000 is 12000.
    HEAD_COUNT: (
        rf"\d{{1,3}}(?:[,{_SPACES}]\d{{3}})+(?:\.\d+)?"
        r"|\d{1,3}(?:\.\d{3})+|\d+(?:\.\d+)?"
    ),
}

_AMBIGUOUS = {
    # One mark before exactly three digits is a decimal point in one format and a
    # thousands separator in the other (12.000, 12,000). Exports mix the two, so
    # such a value is NaN instead of a guess.
    DEFAULT_NUMBER_FORMAT: re.compile(r"\d{1,3}\.\d{3}"),
    "1.234,56": re.compile(r"\d{1,3},\d{3}"),
}
_DOT_GROUPS = re.compile(r"\d{1,3}(?:\.\d{3})+")
_CURRENCY = r"(?:[$€£]|USD|EUR|GBP|CHF)?"
_SCALE = r"(?:k|m|mn|mio|b|bn)\.?"
_SCALES = {"k": 1e3, "m": 1e6, "mn": 1e6, "mio": 1e6, "b": 1e9, "bn": 1e9}


@functools.cache
def _amount_pattern(form: str) -> re.Pattern[str]:
    token = _NUMBER_TOKENS[form]
    return re.compile(
        rf"\s*(?:>=|≥|over|more than|at least)?\s*{_CURRENCY}\s*(?P<low>{token})\s*"
        rf"(?P<scale>{_SCALE})?\s*{_CURRENCY}\s*"
        rf"(?:\+|(?:-|–|to)\s*{_CURRENCY}\s*(?P<high>{token})\s*(?:{_SCALE})?"
        rf"\s*{_CURRENCY})?"
        rf"\s*(?:employees|staff|people|fte)?\s*",
        re.IGNORECASE,
    )


def read_amount(value: object, form: str = DEFAULT_NUMBER_FORMAT) -> float:
    """Read a size or amount as a source writes it; NaN when it is no number.

    ``form`` is a profile's ``number_format``, "1,234.56" or "1.234,56", or
    :data:`HEAD_COUNT` for company size. Accepted in every form: thousands
    separators, a currency sign or code ($, €, £, USD, EUR, GBP, CHF), a scale
    (75M, 2bn, 500k, 75 Mio), a trailing plus (10000+), a leading "over" or ">=",
    and a trailing "employees". A range (1,001-5,000, 10k to 50k) counts as its
    lower end, so a threshold is met only when the whole range meets it.

    The separators depend on ``form``:

    - "1,234.56": comma, space or apostrophe between thousands, dot before the
      decimals. Two or more dot groups (1.000.000) are thousands as well. One dot
      before exactly three digits (12.000) could be either, so it is NaN.
    - "1.234,56": dot, space or apostrophe between thousands, comma before the
      decimals. Two or more comma groups are thousands, and one comma before
      exactly three digits (12,000) is NaN.
    - head count: as "1,234.56", but dot groups of exactly three digits are always
      thousands (12.000 and 1.200.000).
    """
    match = _amount_pattern(form).fullmatch(str(value))
    if match is None:
        return np.nan
    ambiguous = _AMBIGUOUS.get(form)
    if ambiguous is not None:
        tokens = [match.group("low"), match.group("high")]
        if any(token and ambiguous.fullmatch(token) for token in tokens):
            return np.nan
    number = _token_value(match.group("low"), form)
    scale = match.group("scale")
    return number * _SCALES[scale.casefold().rstrip(".")] if scale else number


def _token_value(token: str, form: str) -> float:
    """Convert one number token that matched the pattern of ``form`` to a float."""
    digits = re.sub(f"[{_SPACES}]", "", token)
    decimal, group = (",", ".") if form == "1.234,56" else (".", ",")
    head_count_groups = form == HEAD_COUNT and _DOT_GROUPS.fullmatch(digits)
    if digits.count(decimal) > 1 or head_count_groups:
        digits = digits.replace(decimal, "")
    return float(digits.replace(group, "").replace(decimal, "."))


def _rule_hits(fields: _Fields, rule: ScoreRule) -> np.ndarray:
    if rule.equals is not None:
        wanted = rule.equals.casefold()
        return fields.spread(rule.field, lambda v: _folded(v) == wanted, False)
    if rule.any_of is not None:
        expected = [value.casefold() for value in rule.any_of]
        return fields.spread(
            rule.field, lambda v: pd.Series(_folded(v)).isin(expected), False
        )
    if rule.at_least is not None:
        return np.nan_to_num(fields.number(rule.field), nan=-np.inf) >= rule.at_least
    if rule.present is not None:
        present = fields.spread(rule.field, lambda v: np.ones(len(v), bool), False)
        return present == rule.present
    raise ValueError(f"score rule on {rule.field!r} has no condition")


def score_leads(fields: _Fields, rules: Rules) -> np.ndarray:
    """Sum the configured points per row."""
    score = np.zeros(len(fields.frame))
    for rule in rules.points:
        score += _rule_hits(fields, rule) * rule.points
    return score


def _email_domain(fields: _Fields) -> np.ndarray:
    """Return the domain of ``email_key`` (text after the last @), None if missing."""

    def domains(values: pd.Series) -> np.ndarray:
        keys = pa.array(values.astype(str), type=pa.string())
        return pc.replace_substring_regex(keys, "^.*@", "").to_numpy(
            zero_copy_only=False
        )

    return fields.spread("email_key", domains, None)


def _reject(
    frame: pd.DataFrame, mask: np.ndarray, rule: str, reasons: np.ndarray | str
) -> None:
    """Disqualify the rows of ``frame`` where ``mask`` is true and no outcome is set."""
    mask = mask & frame["outcome"].isna().to_numpy()
    if not mask.any():
        return
    index = frame.index[mask]
    frame.loc[index, "outcome"] = Outcome.DISQUALIFIED.value
    frame.loc[index, "rule"] = rule
    frame.loc[index, "reason"] = (
        reasons if isinstance(reasons, str) else np.asarray(reasons, dtype=object)[mask]
    )


def _labelled(prefix: str, values: np.ndarray, suffix: str) -> np.ndarray:
    text = pd.Series(values, dtype=object).fillna("").astype(str)
    return (prefix + text + suffix).to_numpy(dtype=object)


def _check_exclusions(frame: pd.DataFrame, fields: _Fields, rules: Rules) -> None:
    exclusions = rules.exclusions
    domain = _email_domain(fields)
    competitors = {name.casefold() for name in exclusions.competitor_domains}
    hit = pd.Series(domain).isin(competitors).to_numpy()
    _reject(
        frame,
        hit,
        "competitor_domain",
        _labelled_on(
            frame, hit, "e-mail domain ", domain[hit], " is on the competitor list"
        ),
    )
    unsupported = {code.upper() for code in exclusions.unsupported_countries}
    hit = fields.spread("country_code", lambda v: v.isin(unsupported), False)
    country = fields.original("country_code")
    _reject(
        frame,
        hit,
        "unsupported_country",
        _labelled_on(
            frame, hit, "country ", country[hit], " is not supported by the program"
        ),
    )
    if exclusions.b2b_only:
        free = {name.casefold() for name in exclusions.free_mail_domains}
        hit = pd.Series(domain).isin(free).to_numpy()
        _reject(
            frame,
            hit,
            "free_mail_domain",
            _labelled_on(
                frame,
                hit,
                "free-mail domain ",
                domain[hit],
                " and the program is B2B only",
            ),
        )


def _check_freshness(frame: pd.DataFrame, rules: Rules, now: dt.datetime) -> None:
    """Reject leads whose last engagement is older than ``freshness_days``.

    A lead without a timestamp counts as engaged when its file arrived, which is now.
    A timestamp that does not parse, or lies in the future, fails the rule: an
    unreadable date must not pass for a fresh one.
    """
    if rules.freshness_days is None or "last_activity_at" not in frame.columns:
        return
    live = frame["outcome"].isna().to_numpy()
    if not live.any():
        return
    text = frame.loc[live, "last_activity_at"]
    seen, unreadable, future = check_timestamps(text, now)
    live_rows = np.flatnonzero(live)

    def on_frame(live_mask: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(frame), dtype=bool)
        mask[live_rows[live_mask]] = True
        return mask

    _reject(
        frame,
        on_frame(unreadable),
        "last_activity_unreadable",
        _labelled_on(
            frame,
            on_frame(unreadable),
            "last engagement time ",
            text[unreadable]
            .map(lambda value: shown_value(value, numbers=True))
            .to_numpy(dtype=object),
            NOT_ISO + "; fix the date format in the source",
        ),
    )

    _reject(
        frame,
        on_frame(future),
        "last_activity_in_future",
        _labelled_on(
            frame,
            on_frame(future),
            "last engagement ",
            utc_minutes(seen[future]).to_numpy(dtype=object),
            " is after the time of the run; check the source's dates and clock",
        ),
    )

    cutoff = pd.Timestamp(now - dt.timedelta(days=rules.freshness_days))
    stale_live = seen.lt(cutoff).fillna(False).to_numpy()
    reasons = _labelled_on(
        frame,
        on_frame(stale_live),
        "last engagement ",
        _dates(seen[stale_live]),
        f" is older than {counted(rules.freshness_days, 'day')}",
    )
    _reject(frame, on_frame(stale_live), "stale", reasons)


def _dates(moments: pd.Series) -> np.ndarray:
    """Format as YYYY-MM-DD; strftime writes the year 1 as '1', so pad to 10.

    Each distinct day is formatted once: a file's dates repeat.
    """
    codes, days = pd.factorize(moments.dt.floor("D"), use_na_sentinel=True)
    text = pd.Series(days.strftime("%Y-%m-%d"), dtype=object).str.zfill(10)
    return np.append(text.to_numpy(dtype=object), None)[codes]


def _labelled_on(
    frame: pd.DataFrame, mask: np.ndarray, prefix: str, values: np.ndarray, suffix: str
) -> np.ndarray:
    """Return a reason per row of ``frame``: ``values`` (one per masked row) labelled."""
    reasons = np.full(len(frame), None, dtype=object)
    if mask.any():
        reasons[mask] = _labelled(prefix, values, suffix)
    return reasons


def flag_strategic(fields: _Fields, rules: Rules) -> np.ndarray:
    """Return the reason each row is a strategic account, or None when it is not."""
    strategic = rules.strategic
    reason = np.full(len(fields.frame), None, dtype=object)
    if strategic.min_annual_revenue is not None:
        revenue = np.nan_to_num(fields.number("annual_revenue"), nan=-np.inf)
        hit = (revenue >= strategic.min_annual_revenue) & pd.isna(reason)
        reason[hit] = f"annual revenue >= {strategic.min_annual_revenue:,.0f}"
    if strategic.min_company_size is not None:
        size = np.nan_to_num(fields.number("company_size"), nan=-np.inf)
        hit = (size >= strategic.min_company_size) & pd.isna(reason)
        reason[hit] = f"company size >= {strategic.min_company_size}"
    if strategic.named_accounts:
        # Compared by the same key as the leads' companies: case, punctuation and
        # legal suffixes (Inc., GmbH) do not count.
        names = {company_key(name) for name in strategic.named_accounts} - {None}
        company = fields.original("company_key")
        hit = fields.spread("company_key", lambda v: v.isin(names), False)
        reason[hit] = _labelled("named account ", company, "")[hit]
    return reason


def _read_columns(frame: pd.DataFrame, rules: Rules) -> list[str]:
    """List the columns qualification reads or writes; only these are copied."""
    needed = {rule.field for rule in rules.points} | {
        "email_key",
        "country_code",
        "last_activity_at",
        "annual_revenue",
        "company_size",
        "company_key",
        "outcome",
        "rule",
        "reason",
    }
    return [column for column in frame.columns if column in needed]


AMOUNT_LABELS = {"company_size": "company size", "annual_revenue": "annual revenue"}
"""The amount fields checked for values that cannot be read, with their names."""

UNREADABLE_AMOUNT_RULE = "amount_unreadable"
"""The approval rule of a lead held for an unreadable company size or revenue."""


def _rules_read_number(rules: Rules, field: str) -> bool:
    """Return whether a strategic threshold or at_least score rule reads ``field``."""
    threshold = {
        "company_size": rules.strategic.min_company_size,
        "annual_revenue": rules.strategic.min_annual_revenue,
    }.get(field)
    if threshold is not None:
        return True
    return any(
        rule.field == field and rule.at_least is not None for rule in rules.points
    )


def flag_unreadable_amounts(fields: _Fields, rules: Rules) -> np.ndarray:
    """Return why each row must wait for a human because of an unreadable amount.

    A row that need not wait gets None. A company size or annual revenue that is
    present but not a number would pass the size and revenue rules as if it were
    missing. Only fields that a strategic threshold or an at_least score rule reads
    are checked.
    """
    reasons = np.full(len(fields.frame), None, dtype=object)
    for field, label in AMOUNT_LABELS.items():
        if not _rules_read_number(rules, field):
            continue
        unreadable = fields.present(field) & np.isnan(fields.number(field))
        if not unreadable.any():
            continue
        values = pd.Series(fields.original(field)[unreadable], dtype=object)
        prefix = f"{label} "
        suffix = _unreadable_advice(fields, field, label)
        found = _labelled(prefix, values.map(repr).to_numpy(dtype=object), suffix)
        # "-5" is a number, but no size or revenue is below zero.
        negative = values.astype(str).str.match(_NEGATIVE).to_numpy(dtype=bool)
        if negative.any():
            found[negative] = _labelled(
                prefix,
                values[negative].map(repr).to_numpy(dtype=object),
                _unreadable_advice(fields, field, label, negative=True),
            )
        reasons[unreadable] = _joined(reasons[unreadable], found)
    return reasons


_NEGATIVE = r"\s*[-−]\s*\d"
"""A value that starts with a minus sign (ASCII or U+2212) and a digit."""


def _unreadable_advice(
    fields: _Fields, field: str, label: str, negative: bool = False
) -> str:
    """Return the end of an unreadable amount's reason: why it matters, what to do.

    A re-import of the corrected row does not replace a lead held for approval, so
    the advice is a decision in the approval queue. A ``negative`` value is a
    number, so the number format plays no part in its advice.
    """
    decide = (
        "Check the value, then approve, reassign or reject the lead with "
        "`leadshare approvals`"
    )
    if negative:
        return (
            f" is below zero, so the rules on {label} could not use it. {decide}, "
            "and correct the value in the source"
        )
    if field != "annual_revenue":
        return (
            f" is not a number that leadshare can read, so the rules on {label} "
            f"could not use it. {decide}, and correct the value in the source"
        )
    other = next(form for form in NUMBER_FORMATS if form != fields.number_format)
    return (
        " is not a number that leadshare can read with the source profile's "
        f"number_format '{fields.number_format}', so the rules on {label} could not "
        f"use it. {decide}. If the source writes amounts as {other}, set "
        f"number_format: '{other}' in its profile"
    )


def _joined(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Join two arrays of reasons row by row with "; ", skipping None."""
    return np.array(
        [
            "; ".join(part for part in pair if part is not None) or None
            for pair in zip(first, second, strict=True)
        ],
        dtype=object,
    )


QUALIFY_OUTPUTS = (
    "score",
    "strategic",
    "unreadable_amount",
    "outcome",
    "rule",
    "reason",
)
"""The columns that :func:`qualify` writes on the live rows."""


def qualify(
    frame: pd.DataFrame,
    rules: Rules,
    now: dt.datetime,
    number_format: str = DEFAULT_NUMBER_FORMAT,
) -> pd.DataFrame:
    """Score live rows, disqualify the ones that fail a rule, flag rows to hold.

    Rows that pass get ``strategic`` (the strategic-account reason) and
    ``unreadable_amount`` (the unreadable company size or revenue), or None in each.
    Matching puts a row with either in the approval queue. ``number_format`` is the
    source profile's way of writing annual revenue.
    """
    live = frame["outcome"].isna().to_numpy()
    for column in ("rule", "reason"):
        if column not in frame.columns:
            frame[column] = None
    frame["score"] = np.nan
    frame["strategic"] = None
    frame["unreadable_amount"] = None
    if not live.any():
        return frame
    # Filtering each column on its own copies it once. frame.loc[live, columns]
    # followed by copy() also merged the object blocks, which took 1.4 s against
    # 0.3 s on the benchmark's 1M-lead file (2 cores).
    rows = pd.DataFrame(
        {column: frame[column][live] for column in _read_columns(frame, rules)},
        copy=False,
    )
    fields = _Fields(rows, number_format)
    rows["score"] = score_leads(fields, rules)
    _check_exclusions(rows, fields, rules)
    _check_freshness(rows, rules, now)
    # NOTE: an at_least score rule gives no points to an unreadable company size or
    # revenue. A lead that falls below the threshold for that reason is
    # disqualified here, with this reason, instead of held for approval.
    _check_threshold(rows, rules, "")
    _flag_holds(rows, fields, rules)
    for column in QUALIFY_OUTPUTS:
        frame.loc[live, column] = rows[column].to_numpy()
    return frame


def _check_threshold(frame: pd.DataFrame, rules: Rules, origin: str) -> None:
    """Disqualify the rows whose ``score`` is below the threshold.

    ``origin`` is added after the score in each reason, such as " (from intake)".
    A missing score is not compared.
    """
    score = pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float)
    below = score < rules.threshold
    reasons = np.full(len(frame), None, dtype=object)
    reasons[below] = [
        f"score {value:g}{origin} is below the threshold {rules.threshold:g}"
        for value in score[below]
    ]
    _reject(frame, below, "score_below_threshold", reasons)


def _flag_holds(frame: pd.DataFrame, fields: _Fields, rules: Rules) -> None:
    """Set ``strategic`` and ``unreadable_amount`` on the rows without an outcome."""
    live = frame["outcome"].isna().to_numpy()
    frame["strategic"] = np.where(live, flag_strategic(fields, rules), None)
    unreadable = flag_unreadable_amounts(fields, rules)
    frame["unreadable_amount"] = np.where(live, unreadable, None)


def recheck_waiting(
    frame: pd.DataFrame,
    rules: Rules,
    now: dt.datetime,
    number_formats: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Re-apply the current rules to leads that wait for a partner.

    ``frame`` contains stored leads that wait for a partner. The ones that now fail a
    rule get outcome ``disqualified`` with the rule and reason, and the others get the
    ``strategic`` and ``unreadable_amount`` reasons that matching reads.
    ``number_formats`` maps a profile name to its ``number_format``. Each row's
    ``profile`` column selects one, and a profile not in it gets the default.
    """
    for column in ("outcome", "rule", "reason"):
        if column not in frame.columns:
            frame[column] = None
    fields = _Fields(frame)
    _check_exclusions(frame, fields, rules)
    _check_freshness(frame, rules, now)
    # NOTE: the stored score from intake is compared with the current threshold but
    # not recomputed, because score rules can read fields that the store does not
    # keep (last_activity, status).
    if "score" in frame.columns:
        _check_threshold(frame, rules, " (from intake)")
    frame["strategic"] = None
    frame["unreadable_amount"] = None
    for number_format, positions in _by_number_format(frame, number_formats):
        part = frame.iloc[positions].copy()
        _flag_holds(part, _Fields(part, number_format), rules)
        for column in ("strategic", "unreadable_amount"):
            values = part[column].to_numpy(dtype=object)
            frame.iloc[positions, frame.columns.get_loc(column)] = values
    return frame


def _by_number_format(
    frame: pd.DataFrame, number_formats: Mapping[str, str] | None
) -> list[tuple[str, np.ndarray]]:
    """Group the row positions of ``frame`` by the number format of their profile."""
    if "profile" in frame.columns and number_formats:
        formats = frame["profile"].map(number_formats)
        formats = formats.fillna(DEFAULT_NUMBER_FORMAT).to_numpy(dtype=object)
    else:
        formats = np.full(len(frame), DEFAULT_NUMBER_FORMAT, dtype=object)
    return [
        (number_format, np.flatnonzero(formats == number_format))
        for number_format in sorted(set(formats))
    ]
