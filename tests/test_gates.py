"""Data-quality gates: batch suite, row suite and their Great Expectations set-up."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from leadshare import config, gates
from leadshare.config import Profile
from leadshare.errors import ConfigError, GateError
from leadshare.intake import PROBLEM_COLUMN, apply_profile, read_lead_file
from leadshare.model import LEAD_FIELDS, ROW_COLUMN

REPO = Path(__file__).resolve().parents[1]


def _profile(**overrides: object) -> Profile:
    settings: dict = {
        "name": "test",
        "columns": {field: field for field in LEAD_FIELDS},
        "required_columns": ["email"],
        "max_null_rate": {"email": 0.5},
    }
    settings.update(overrides)
    return Profile.model_validate(settings)


def _leads(**columns: list[str | None]) -> pd.DataFrame:
    rows = len(next(iter(columns.values())))
    frame = pd.DataFrame({field: [None] * rows for field in LEAD_FIELDS}, dtype=object)
    for name, values in columns.items():
        frame[name] = pd.Series(values, dtype=object)
    frame[ROW_COLUMN] = range(1, rows + 1)
    frame[PROBLEM_COLUMN] = None
    return frame


# Placeholder case


def _b08(shared_dir: Path) -> tuple[pd.DataFrame, dict]:
    raw = read_lead_file(shared_dir / "cases/B08/leads.csv")
    expected = json.loads((shared_dir / "cases/B08/expected.json").read_text("utf-8"))
    return apply_profile(raw, _profile()), expected


@pytest.mark.parametrize(
    ("config", "required"),
    [("company_required", ["email", "company"]), ("company_optional", ["email"])],
)
def test_placeholders_count_missing(
    shared_dir: Path, config: str, required: list[str]
) -> None:
    frame, expected = _b08(shared_dir)
    rules = gates.check_rows(frame, required)
    by_row = dict(zip(frame[ROW_COLUMN], rules, strict=True))

    assert len(frame) == expected["rows_read"]
    for failure in expected[config]["failures"]:
        assert by_row[failure["row"]] == failure["check"]
    for row in expected[config]["passing_rows"]:
        assert by_row[row] is None


def test_raw_not_null_misses_placeholders(shared_dir: Path) -> None:
    """GX not_null passes blanks and placeholders, so mapping must turn them to None."""
    frame, expected = _b08(shared_dir)
    raw = read_lead_file(shared_dir / "cases/B08/leads.csv").frame
    raw_rules = gates.check_rows(raw, ["email", "company"])
    null_only_failures = raw_rules.str.endswith("_required", na=False)
    passing = raw.loc[~null_only_failures.to_numpy(bool), ROW_COLUMN].tolist()

    for row in expected["wrong_null_only_check_passes_rows"]:
        assert row in passing
    assert gates.check_rows(frame, ["email", "company"]).notna().sum() == 4


# Row rules


def test_malformed_rows_fail_first(tmp_path: Path) -> None:
    content = "email,company\na@x.io,Acme\nbroken\nc@x.io,Cyd\nd@x.io,Dot\ne@x.io,Eve\n"
    path = tmp_path / "leads.csv"
    path.write_text(content, encoding="utf-8")
    profile = _profile(columns={"email": "email", "company": "company"})
    frame = apply_profile(read_lead_file(path), profile)

    rules = gates.check_rows(frame, ["email", "company"])

    assert rules.tolist() == [None, "malformed_row", None, None, None]


def test_email_format_rules() -> None:
    long_address = "a" * 250 + "@x.io"
    frame = _leads(
        email=[
            "ann@example.com",
            " ann@example.com ",
            "ann.example.com",
            "ann@example",
            '"ann"@example.com',
            long_address,
            None,
        ]
    )

    rules = gates.check_rows(frame, [])

    assert rules.tolist() == [
        None,
        None,
        "email_syntax",
        "email_syntax",
        None,
        "email_too_long",
        None,
    ]


@pytest.mark.parametrize(
    ("field", "limit"),
    [("company", 255), ("first_name", 255), ("postcode", 64), ("notes", 10_000)],
)
def test_text_over_its_limit_quarantined(field: str, limit: int) -> None:
    frame = _leads(
        email=["a@x.io", "b@x.io", "c@x.io", "d@x.io"],
        **{field: ["é" * limit, "x" * (limit + 1), None, ""]},
    )

    rules = gates.check_rows(frame, [])

    assert rules.tolist() == [None, f"{field}_too_long", None, None]
    assert f"{limit:,}" in gates.row_rule_reason(f"{field}_too_long")


def test_every_lead_field_has_a_length_limit() -> None:
    limited = {
        e.column
        for e in gates._row_suite([]).expectations
        if e.expectation_type == "expect_column_value_lengths_to_be_between"
    }

    assert limited == set(LEAD_FIELDS)


@pytest.mark.parametrize("field", ["industry", "do_not_call", "unsubscribed_at"])
def test_long_value_in_any_field_quarantined(field: str) -> None:
    frame = _leads(email=["a@x.io", "b@x.io"], **{field: ["x", "y" * 50_000]})

    assert gates.check_rows(frame, []).tolist() == [None, f"{field}_too_long"]


def test_length_limit_on_arrow_text_column() -> None:
    frame = _leads(email=["a@x.io", "b@x.io", "c@x.io"])
    frame["company"] = pd.Series(
        ["Firm", "x" * 256, None], dtype=pd.StringDtype("pyarrow")
    )

    assert gates.check_rows(frame, []).tolist() == [None, "company_too_long", None]


def test_length_checks_settled_early_agree_with_gx() -> None:
    # Columns whose values all fit skip GX; the result must equal GX's own on
    # every length check.
    frame = _leads(
        email=["a@x.io", "b" * 250 + "@x.io", "c@x.io"],
        company=["Firm", "Firm", "x" * 300],
        city=["Köln", "Bonn", None],
    )
    suite = gates._row_suite([])

    columns = sorted({e.column for e in suite.expectations})
    full = gates._validate(frame[columns], suite, {}, gates._ROW_RESULT_FORMAT)
    plan = gates._plan_checks(suite, frame)

    failing = {r.expectation_config.meta["rule"] for r in full if not r.success}
    assert failing == {"company_too_long", "email_too_long"}
    remaining_rules = {e.meta["rule"] for e, rows in plan if rows is None or len(rows)}
    assert failing <= remaining_rules
    assert "city_too_long" not in remaining_rules
    assert gates.check_rows(frame, []).tolist() == [
        None,
        "email_too_long",
        "company_too_long",
    ]


# Values on which Python's re (used by GX) and Arrow's RE2 could disagree about the
# e-mail pattern: Unicode and ASCII control white space, a final line end, non-ASCII
# letters, padding that the pattern allows.
_PATTERN_EDGES = [
    "a@x.io",
    " b@x.io ",
    "c\u00a0d@x.io",
    "e\vf@x.io",
    "g\x1ch@x.io",
    "i@x.io\n",
    "j\u3000@x.io",
    "ä@bücher.de",
    "no-at-sign",
    None,
]


@pytest.mark.parametrize("storage", ["object", "pyarrow"])
def test_pattern_check_settled_early_agrees_with_gx(storage: str) -> None:
    frame = _leads(email=_PATTERN_EDGES)
    if storage == "pyarrow":
        frame["email"] = frame["email"].astype(pd.StringDtype("pyarrow"))
    suite = gates._row_suite([])
    columns = sorted({e.column for e in suite.expectations})
    checked = frame[columns].astype(object).where(frame[columns].notna(), None)
    (syntax,) = [
        r
        for r in gates._validate(checked, suite, {}, gates._ROW_RESULT_FORMAT)
        if r.expectation_config.meta["rule"] == "email_syntax"
    ]
    gx_failed = set(syntax.result["unexpected_index_list"])

    rules = gates.check_rows(frame, [])

    assert gx_failed == {2, 3, 4, 6, 8}
    assert set(np.flatnonzero(rules.eq("email_syntax").to_numpy())) == gx_failed


def test_pattern_check_gets_only_doubtful_rows() -> None:
    suite = gates._row_suite([])
    frame = _leads(email=["a@x.io", "c\u00a0d@x.io", None, "no-at-sign", "b@x.io"])

    plan = {e.meta["rule"]: rows for e, rows in gates._plan_checks(suite, frame)}

    # The non-ASCII value is left to Python's re, the value without @ fails in RE2.
    assert plan["email_syntax"].tolist() == [1, 3]
    assert plan["email_too_long"].tolist() == []


def test_required_order_decides_rule() -> None:
    frame = _leads(email=[None, "x"], company=[None, None])

    assert gates.check_rows(frame, ["company", "email"]).tolist() == [
        "company_required",
        "company_required",
    ]
    assert gates.check_rows(frame, ["email", "company"]).tolist() == [
        "email_required",
        "company_required",
    ]


def test_rules_keep_index() -> None:
    frame = _leads(email=["a@x.io", None, "c@x.io"]).set_axis([30, 10, 20])

    rules = gates.check_rows(frame, ["email"])

    assert rules.index.tolist() == [30, 10, 20]
    assert rules.tolist() == [None, "email_required", None]


def test_unknown_column_fails_required() -> None:
    frame = _leads(email=["a@x.io", "b@x.io"])

    rules = gates.check_rows(frame, ["vat_number"])

    assert rules.tolist() == ["vat_number_required", "vat_number_required"]


def test_all_malformed_rows() -> None:
    frame = _leads(email=[None, None])
    frame[PROBLEM_COLUMN] = ["line 2: expected 3 fields, got 1"] * 2

    assert gates.check_rows(frame, ["email"]).tolist() == ["malformed_row"] * 2


def test_rule_reasons() -> None:
    assert "placeholder" in gates.row_rule_reason("email_required")
    assert gates.row_rule_reason("email_syntax").startswith("e-mail address")
    assert "254" in gates.row_rule_reason("email_too_long")
    assert "header" in gates.row_rule_reason("malformed_row")
    with pytest.raises(ValueError):
        gates.row_rule_reason("no_such_rule")


# Batch gate


def test_batch_passes() -> None:
    frame = _leads(email=["a@x.io", None, "c@x.io", "d@x.io"])

    gates.check_batch(frame, _profile(), "leads.csv")


def test_batch_null_rate_fails() -> None:
    frame = _leads(email=["a@x.io", None, None, None])

    with pytest.raises(GateError) as caught:
        gates.check_batch(frame, _profile(), "leads.csv")

    message = str(caught.value)
    assert caught.value.path == "leads.csv"
    assert "email_null_rate" in message
    assert "75.0% of rows (3 of 4)" in message
    assert "maximum 50.0%" in message


def test_batch_missing_column_fails() -> None:
    frame = _leads(email=["a@x.io"]).drop(columns=["email"])

    with pytest.raises(GateError) as caught:
        gates.check_batch(frame, _profile(max_null_rate={}), "leads.csv")

    assert "required_columns_present: missing columns ['email']" in str(caught.value)


def test_batch_ignores_malformed_rows() -> None:
    frame = _leads(email=["a@x.io", None, None])
    frame[PROBLEM_COLUMN] = [None, "line 3: bad", "line 4: bad"]

    gates.check_batch(frame, _profile(), "leads.csv")


def test_batch_without_good_rows() -> None:
    frame = _leads(email=[None])
    frame[PROBLEM_COLUMN] = ["line 2: expected 3 fields, got 1"]

    with pytest.raises(GateError) as caught:
        gates.check_batch(frame, _profile(max_null_rate={}), "leads.csv")

    assert "batch_has_rows: 0 well-formed rows, minimum 1" in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"max_null_rate": {"email": 1.5}}, "out of range"),
        ({"max_null_rate": {"emial": 0.5}}, "unknown lead fields ['emial']"),
        ({"suite": "no_such_suite"}, "'no_such_suite' not found"),
        ({"required_columns": ["emial"]}, "not mapped under 'columns'"),
    ],
)
def test_bad_profile_gate_settings(overrides: dict, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _profile(**overrides)

    assert words in str(caught.value)


def test_bad_null_rate_in_built_profile() -> None:
    # A profile built without validation still fails the gate, naming the rate.
    profile = _profile().model_copy(update={"max_null_rate": {"email": 1.5}})

    with pytest.raises(ConfigError, match="between 0 and 1"):
        gates.check_batch(_leads(email=["a@x.io"]), profile, "leads.csv")


@pytest.mark.parametrize(
    ("expectation", "words"),
    [
        (
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"mostly": 2}},
            "invalid expectation suite",
        ),
        (
            {"type": "expect_no_such_thing", "kwargs": {"column": "email"}},
            "1 expectations in the file but only 0 are valid",
        ),
    ],
)
def test_invalid_suite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expectation: dict, words: str
) -> None:
    name = f"broken_{tmp_path.name}"
    suite = {"name": name, "expectations": [expectation | {"meta": {"rule": "r"}}]}
    (tmp_path / f"{name}.json").write_text(json.dumps(suite), encoding="utf-8")
    monkeypatch.setattr(gates, "EXPECTATIONS_DIR", tmp_path)
    monkeypatch.setattr(config, "EXPECTATIONS_DIR", tmp_path)

    with pytest.raises(ConfigError) as caught:
        gates.check_batch(_leads(email=["a"]), _profile(suite=name), "x.csv")

    assert f"{name}.json" in str(caught.value)
    assert words in str(caught.value)


# Stored suites and set-up


@pytest.mark.parametrize("path", sorted((REPO / "expectations").glob("*.json")))
def test_suite_files_valid(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    rules = [item["meta"]["rule"] for item in data["expectations"]]

    assert data["name"] == path.stem
    assert len(set(rules)) == len(rules)


def test_gx_lazy_and_offline() -> None:
    """Importing gates loads no GX, and a gate run opens no network connection."""
    script = textwrap.dedent(
        """
        import socket, sys
        import pandas as pd
        from leadshare import gates
        assert "great_expectations" not in sys.modules, "GX imported with gates"

        def reject_connection(self, address):
            raise OSError(f"network connection attempted to {address}")

        socket.socket.connect = reject_connection
        socket.socket.connect_ex = reject_connection
        frame = pd.DataFrame({"email": ["a@x.io", None], "_problem": [None, None]})
        print(gates.check_rows(frame, ["email"]).tolist())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[None, 'email_required']"
    assert "network connection attempted" not in done.stderr
