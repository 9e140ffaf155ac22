"""Data-quality gates on mapped lead batches, run with Great Expectations.

The suites are JSON files in ``expectations/``. The batch suite rejects a whole file
(:class:`GateError`), and the row suite marks single rows for quarantine. GX 1.24 has
no DuckDB data source, so the gates validate pandas frames that hold only the checked
columns. GX's ``not_null`` passes empty strings, so blanks and placeholders must
already be None, as :func:`leadshare.intake.apply_profile` leaves them.

Great Expectations is imported on first use because the import takes seconds.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadshare import arrowtext
from leadshare.config import Profile
from leadshare.errors import ConfigError, GateError
from leadshare.intake import PROBLEM_COLUMN
from leadshare.words import counted

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.data_context import AbstractDataContext

log = logging.getLogger(__name__)

EXPECTATIONS_DIR = Path(__file__).resolve().parent.parent / "expectations"
ROWS_SUITE = "leads_rows"
MALFORMED_RULE = "malformed_row"

_ROW_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
}


def check_batch(frame: pd.DataFrame, profile: Profile, source_name: str) -> None:
    """Run the profile's batch suite on a mapped frame; raise GateError if it fails.

    Only well-formed rows count (rows with a ``_problem`` are quarantined later). The
    error lists each failed expectation with its observed value and threshold.
    """
    suite = _suite_with_null_rates(profile)
    columns = sorted(set(profile.required_columns) | set(profile.max_null_rate))
    checked = frame.loc[_well_formed(frame), [c for c in columns if c in frame.columns]]
    parameters = {"min_rows": 1, "required_columns": list(profile.required_columns)}
    results = _validate(checked, suite, parameters, "SUMMARY")

    failures = [_describe_failure(result) for result in results if not result.success]
    if failures:
        raise GateError(
            source_name,
            f"data-quality gate {suite.name!r} failed: " + "; ".join(failures),
            fix=f"Check the column mapping of profile {profile.name!r} and the export; "
            "a high null rate usually means a renamed or empty column",
        )
    log.info(
        "batch gate %s passed on %s (%s)",
        suite.name,
        source_name,
        counted(len(checked), "row"),
    )


def check_rows(frame: pd.DataFrame, required_fields: list[str]) -> pd.Series:
    """Run the row checks and return each row's first failed rule id, or None.

    Rows with a ``_problem`` get ``malformed_row``. The other rows are checked for
    each required field in the given order (rule ``<field>_required``) and then for
    the expectations of the ``leads_rows`` suite. The result has the frame's index.
    """
    rules = np.full(len(frame), None, dtype=object)
    malformed = ~_well_formed(frame)
    rules[malformed] = MALFORMED_RULE
    positions = np.flatnonzero(~malformed)
    if not len(positions):
        return pd.Series(rules, index=frame.index, dtype=object)

    # Settle what Arrow can first, so GX gets only the columns and rows in doubt.
    suite = _row_suite(required_fields)
    plan = _plan_checks(suite, frame)
    failed_by_rule: dict[str, np.ndarray] = {}
    for rows, expectations in _group_by_rows(plan, positions):
        checked_suite = type(suite)(name=suite.name, expectations=expectations)
        columns = sorted({e.column for e in expectations})
        checked = pd.DataFrame(
            {c: _column_or_none(frame, c)[rows] for c in columns},
            index=pd.RangeIndex(len(rows)),
        )
        for result in _validate(checked, checked_suite, {}, _ROW_RESULT_FORMAT):
            _raise_on_exception(result, suite.name)
            unexpected = result.result.get("unexpected_index_list", [])
            rule = result.expectation_config.meta["rule"]
            failed_by_rule[rule] = rows[np.asarray(unexpected, int)]
    # A row gets the rule of the first expectation it fails, in the suite's order.
    for expectation in suite.expectations:
        failed = failed_by_rule.get(expectation.meta["rule"], np.zeros(0, int))
        unassigned = failed[pd.isna(rules[failed])]
        rules[unassigned] = expectation.meta["rule"]
    return pd.Series(rules, index=frame.index, dtype=object)


ALL_ROWS = None
"""In a check plan: GX checks every well-formed row."""


def _plan_checks(
    suite: ExpectationSuite, frame: pd.DataFrame
) -> list[tuple[Any, np.ndarray | None]]:
    """Pair each expectation with the rows GX must check: ALL_ROWS or some rows.

    GX takes about 0.35 s per length check and 1 s per pattern check at 1M rows,
    where Arrow checks every value of a column in a few hundredths of a second.
    A length check whose column has no value over the limit gets no rows, and a
    required field only its missing values. A pattern check gets only the rows
    that Arrow finds failing or cannot decide (see :func:`_doubtful_rows`). Row
    numbers count every row of ``frame``, malformed ones too, which can only add
    rows to check, never drop one wrongly.
    """
    plan = []
    for expectation in suite.expectations:
        kwargs = expectation.configuration.kwargs
        column = kwargs.get("column")
        kind = expectation.expectation_type
        plain_max = (
            kind == "expect_column_value_lengths_to_be_between"
            and kwargs.get("min_value") is None
            and kwargs.get("max_value") is not None
        )
        rows = ALL_ROWS
        if column not in frame.columns:
            if plain_max:
                rows = np.zeros(0, dtype=int)
        elif plain_max:
            if _longest(frame[column]) <= kwargs["max_value"]:
                rows = np.zeros(0, dtype=int)
        elif kind == "expect_column_values_to_match_regex":
            rows = _doubtful_rows(frame[column], kwargs["regex"])
        elif kind == "expect_column_values_to_not_be_null":
            # GX finds missing values as pandas does: only those rows can fail.
            rows = np.flatnonzero(frame[column].isna().to_numpy())
        plan.append((expectation, rows))
    return plan


def _group_by_rows(
    plan: list[tuple[Any, np.ndarray | None]], positions: np.ndarray
) -> list[tuple[np.ndarray, list[Any]]]:
    """Group the planned expectations into GX runs over well-formed rows.

    The checks on every row form one run, and the checks on some rows one more,
    over the union of their rows. Checks without rows are left out.
    """
    every = [expectation for expectation, rows in plan if rows is ALL_ROWS]
    partial = [(e, rows) for e, rows in plan if rows is not ALL_ROWS and len(rows)]
    runs = []
    if every:
        runs.append((positions, every))
    if partial:
        union = np.unique(np.concatenate([rows for _, rows in partial]))
        rows = np.intersect1d(union, positions, assume_unique=True)
        if len(rows):
            runs.append((rows, [expectation for expectation, _ in partial]))
    return runs


_ENGINES_DIFFER = "[\\n\\v\\x1c-\\x1f]"
"""ASCII characters that Python's ``re`` counts as white space or (for ``$``) as a
line end, where RE2 does not. A value with one of them goes to Python's ``re``."""


def _doubtful_rows(column: pd.Series, regex: str) -> np.ndarray | None:
    """Return the rows where GX's pattern check could fail; ALL_ROWS if unknown.

    GX checks a pattern with Python's ``re.search``. Arrow's RE2 agrees with it on
    ASCII text without the characters in ``_ENGINES_DIFFER``, so a row is in doubt
    when RE2 finds no match or the value is other text. A pattern RE2 cannot run,
    or a value that is not text, leaves every row to GX. Missing values pass.
    """
    try:
        values = arrowtext.text_array(column)
        matched = pc.match_substring_regex(values, regex)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return ALL_ROWS
    unsure = pc.or_(
        pc.invert(pc.string_is_ascii(values)),
        pc.match_substring_regex(values, _ENGINES_DIFFER),
    )
    doubtful = pc.or_(pc.invert(matched), unsure).fill_null(False)
    return np.flatnonzero(doubtful.to_numpy(zero_copy_only=False))


def _longest(column: pd.Series) -> int:
    """Return the length of the longest text value in ``column`` (0 if none)."""
    if arrowtext.is_arrow_text(column):
        # Arrow counts characters without making a Python string per value.
        longest = pc.max(pc.utf8_length(pa.array(column.array))).as_py()
        return longest or 0
    values = column.to_numpy(dtype=object)
    try:
        # Object columns here hold few distinct values (sources, flags, industries),
        # so measuring each distinct value once is about three times faster.
        return max(map(len, filter(None, set(values))), default=0)
    except TypeError:  # a value that is not text: let GX judge the column
        return 2**63


def row_rule_reason(rule: str) -> str:
    """Return the readable reason for a rule id that :func:`check_rows` produced."""
    if rule == MALFORMED_RULE:
        return "the record could not be split into the header's fields"
    if rule.endswith("_required"):
        field = rule.removesuffix("_required")
        return (
            f"{field} is missing (blank or a placeholder such as 'Select'); "
            "fill it in the source"
        )
    reasons = _stored_row_reasons()
    if rule in reasons:
        return reasons[rule]
    raise ValueError(f"unknown row rule {rule!r}")


@functools.cache
def _stored_row_reasons() -> dict[str, str]:
    """Map each rule id of the ``leads_rows`` suite to its reason text.

    The result is cached because quarantine_rows looks up one reason per failed
    row, and building the suite took about 50 microseconds a call (0.24 s for the
    4,806 invalid e-mails of the benchmark's 1M-lead file). The suite file is
    cached by ``_read_suite_file`` already, so the mapping cannot go stale.
    """
    return {
        expectation.meta["rule"]: str(
            expectation.meta.get("reason", expectation.meta["rule"])
        )
        for expectation in _load_suite(ROWS_SUITE).expectations
    }


def _well_formed(frame: pd.DataFrame) -> np.ndarray:
    if PROBLEM_COLUMN not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return frame[PROBLEM_COLUMN].isna().to_numpy()


def _column_or_none(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column in frame.columns:
        return frame[column].to_numpy(dtype=object, na_value=None)
    return np.full(len(frame), None, dtype=object)


def _suite_with_null_rates(profile: Profile) -> ExpectationSuite:
    """Load the profile's batch suite and add one null-rate check per listed field."""
    gx = _gx()
    suite = _load_suite(profile.suite)
    for field, max_rate in sorted(profile.max_null_rate.items()):
        if not 0.0 <= max_rate <= 1.0:
            raise ConfigError(
                f"profile {profile.name!r}: max_null_rate.{field} is {max_rate}; "
                "use a share between 0 and 1"
            )
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column=field,
                mostly=1.0 - max_rate,
                meta={"rule": f"{field}_null_rate"},
            )
        )
    return suite


def _row_suite(required_fields: list[str]) -> ExpectationSuite:
    """Build the row suite: required-field checks first, then the stored ones."""
    gx = _gx()
    stored = _load_suite(ROWS_SUITE)
    required = [
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column=field, meta={"rule": f"{field}_required"}
        )
        for field in dict.fromkeys(required_fields)
    ]
    return gx.ExpectationSuite(
        name=stored.name, expectations=required + stored.expectations
    )


def _load_suite(name: str) -> ExpectationSuite:
    """Load a suite from ``expectations/<name>.json`` as a new object."""
    data = _read_suite_file(name)
    gx = _gx()
    try:
        suite = gx.ExpectationSuite(**data)
    except (ValueError, TypeError, gx.exceptions.GreatExpectationsError) as exc:
        raise ConfigError(
            f"{EXPECTATIONS_DIR / name}.json: invalid expectation suite: {exc}"
        ) from exc
    # GX logs and skips an invalid expectation instead of raising, so count them.
    if len(suite.expectations) != len(data["expectations"]):
        raise ConfigError(
            f"{EXPECTATIONS_DIR / name}.json: {len(data['expectations'])} expectations "
            f"in the file but only {len(suite.expectations)} are valid; see the GX log"
        )
    return suite


@functools.cache
def _read_suite_file(name: str) -> dict[str, Any]:
    path = EXPECTATIONS_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: expectation suite not found; set 'suite' in the source profile "
            f"to one of {sorted(p.stem for p in EXPECTATIONS_DIR.glob('*.json'))}"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
    rules = [item.get("meta", {}).get("rule") for item in data.get("expectations", [])]
    if None in rules or len(set(rules)) != len(rules):
        raise ConfigError(f"{path}: every expectation needs a unique meta.rule id")
    return data


def _validate(
    frame: pd.DataFrame,
    suite: ExpectationSuite,
    parameters: dict[str, Any],
    result_format: str | dict[str, Any],
) -> list[Any]:
    """Validate a frame and return the results in the suite's order."""
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    outcome = batch.validate(
        suite, expectation_parameters=parameters, result_format=result_format
    )
    by_rule = {r.expectation_config.meta["rule"]: r for r in outcome.results}
    return [by_rule[e.meta["rule"]] for e in suite.expectations]


def _gx() -> ModuleType:
    """Return the Great Expectations module once its context exists.

    Suites can only be built while a context exists, so every GX use goes through
    this function.
    """
    _context()
    import great_expectations as gx

    return gx


@functools.cache
def _context() -> AbstractDataContext:
    """Import Great Expectations and create its in-memory context once per process."""
    # NOTE: threads share this context and its pandas data source. Concurrent
    # validations from several threads have not been tested.
    # GX 1.24.1 contains no analytics client (no posthog, no usage statistics
    # module); the variable keeps other versions from sending events.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from great_expectations.execution_engine import pandas_execution_engine

    # GX labels each pandas batch with a fingerprint that hashes every cell when the
    # frame's shallow size is under HASH_THRESHOLD: about 1 s per gate at 1M leads.
    # The label is not used here, so the threshold is set to zero.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@functools.cache
def _batch_definition() -> BatchDefinition:
    source = _context().data_sources.add_pandas("leadshare")
    asset = source.add_dataframe_asset("leads")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def _raise_on_exception(result: Any, suite_name: str) -> None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        raise ConfigError(
            f"expectation {result.expectation_config.type} in suite {suite_name!r} "
            f"raised: {info.get('exception_message')}; fix the suite file"
        )


def _describe_failure(result: Any) -> str:
    """Describe a failed batch expectation: rule, observed value and threshold."""
    config = result.expectation_config
    rule = config.meta["rule"]
    details = result.result or {}
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return f"{rule}: {config.type} raised {info.get('exception_message')}"
    if config.type == "expect_table_row_count_to_be_between":
        return (
            f"{rule}: {details.get('observed_value')} well-formed rows, "
            f"minimum {config.kwargs.get('min_value')}"
        )
    if config.type == "expect_table_columns_to_match_set":
        missing = details.get("details", {}).get("mismatched", {}).get("missing", [])
        return f"{rule}: missing columns {missing}"
    if config.type == "expect_column_values_to_not_be_null":
        mostly = config.kwargs.get("mostly") or 1.0
        return (
            f"{rule}: {config.kwargs['column']} is empty on "
            f"{details.get('unexpected_percent', 0.0):.1f}% of rows "
            f"({details.get('unexpected_count')} of {details.get('element_count')}), "
            f"maximum {(1.0 - mostly) * 100:.1f}%"
        )
    observed = details.get("observed_value", details.get("unexpected_percent"))
    return f"{rule}: {config.type} with {config.kwargs} failed (observed {observed})"
