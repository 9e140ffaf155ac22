"""Source profiles: each maps its real export onto the lead fields and passes its gate.

Expected counts come from Python's csv module reading the same file, a reader that
shares no code with leadshare's intake, and from the counts published with the data.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from leadshare import gates
from leadshare.config import Profile, load_config
from leadshare.errors import GateError
from leadshare.intake import PROBLEM_COLUMN, apply_profile, read_lead_file
from leadshare.model import LEAD_FIELDS, ROW_COLUMN

REPO = Path(__file__).resolve().parents[1]
XEDUCATION_PLACEHOLDERS = {"", "select", "n/a", "null", "-", "unknown"}


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return load_config(REPO / "config").profiles


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _kept(values: list[str]) -> list[str | None]:
    return [
        None if v.strip().casefold() in XEDUCATION_PLACEHOLDERS else v for v in values
    ]


def test_profiles_load(profiles: dict[str, Profile]) -> None:
    assert set(profiles) >= {"xeducation", "datablist", "generic", "optouts"}


# X Education


@pytest.fixture(scope="module")
def xeducation(shared_dir: Path, profiles: dict[str, Profile]) -> pd.DataFrame:
    raw = read_lead_file(shared_dir / "data/xeducation-leads/Leads.csv")
    return apply_profile(raw, profiles["xeducation"])


def test_xeducation_rows(xeducation: pd.DataFrame) -> None:
    assert len(xeducation) == 9240
    assert list(xeducation.columns) == [*LEAD_FIELDS, ROW_COLUMN, PROBLEM_COLUMN]
    assert xeducation["external_id"].is_unique
    assert xeducation[PROBLEM_COLUMN].isna().all()


def test_xeducation_published_counts(xeducation: pd.DataFrame) -> None:
    assert int((xeducation["do_not_email"] == "yes").sum()) == 734
    assert int((xeducation["do_not_call"] == "yes").sum()) == 2
    # Last Activity is also the status: 61 rows contain Unsubscribed, 3 of them with
    # Do Not Email "No".
    assert int((xeducation["status"] == "Unsubscribed").sum()) == 61
    unsubscribed_only = (xeducation["status"] == "Unsubscribed") & (
        xeducation["do_not_email"] == "no"
    )
    assert int(unsubscribed_only.sum()) == 3
    # 2,461 empty countries and 5 'unknown' become None.
    assert int(xeducation["country"].isna().sum()) == 2461 + 5
    assert int((xeducation["lead_source"] == "Google").sum()) == 2868 + 5
    assert int((xeducation["lead_source"] == "google").sum()) == 0


def test_xeducation_matches_csv_module(
    shared_dir: Path, xeducation: pd.DataFrame
) -> None:
    rows = _csv_rows(shared_dir / "data/xeducation-leads/Leads.csv")
    columns = {
        "external_id": "Prospect ID",
        "city": "City",
        "industry": "Specialization",
        "job_title": "What is your current occupation",
        "engagement": "TotalVisits",
        "last_activity": "Last Activity",
        "notes": "Tags",
    }

    assert len(rows) == len(xeducation)
    for field, header in columns.items():
        expected = _kept([row[header] for row in rows])
        assert xeducation[field].tolist() == expected, field


def test_xeducation_placeholders_gone(xeducation: pd.DataFrame) -> None:
    assert int(xeducation["city"].isna().sum()) >= 2249
    assert int(xeducation["industry"].isna().sum()) >= 1942
    for field in LEAD_FIELDS:
        assert not xeducation[field].isin(["Select", ""]).any(), field


def test_xeducation_consent_defaults(xeducation: pd.DataFrame) -> None:
    assert (xeducation["consent_share"] == "yes").all()
    assert (xeducation["consent_source"] == "xeducation form (profile default)").all()
    assert xeducation["email"].isna().all()


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("Leads_9237rows_crlf.csv", 9237),
        ("Leads_renamed_header_lf.csv", 9240),
        ("Leads_trailing_empty_column.csv", 9240),
        ("Leads_whole_row_quoted.csv", 9240),
    ],
)
def test_xeducation_variants_map(
    shared_dir: Path,
    profiles: dict[str, Profile],
    xeducation: pd.DataFrame,
    name: str,
    rows: int,
) -> None:
    raw = read_lead_file(shared_dir / "data/xeducation-leads/variants" / name)
    frame = apply_profile(raw, profiles["xeducation"])
    base = xeducation.set_index("external_id").loc[frame["external_id"]]

    assert len(frame) == rows
    assert frame[PROBLEM_COLUMN].isna().all()
    for field in ("job_title", "country", "industry", "lead_source", "notes"):
        assert frame[field].tolist() == base[field].tolist(), field


def test_xeducation_gate_passes(
    xeducation: pd.DataFrame, profiles: dict[str, Profile]
) -> None:
    gates.check_batch(xeducation, profiles["xeducation"], "Leads.csv")


# Datablist


@pytest.fixture(scope="module")
def datablist(shared_dir: Path, profiles: dict[str, Profile]) -> pd.DataFrame:
    raw = read_lead_file(shared_dir / "data/datablist-leads/leads-10000.csv")
    return apply_profile(raw, profiles["datablist"])


def test_datablist_matches_csv_module(
    shared_dir: Path, datablist: pd.DataFrame
) -> None:
    rows = _csv_rows(shared_dir / "data/datablist-leads/leads-10000.csv")
    columns = {
        "external_id": "Account Id",
        "first_name": "First Name",
        "last_name": "Last Name",
        "company": "Company",
        "phone": "Phone 1",
        "email": "Email 1",
        "lead_source": "Source",
        "status": "Deal Stage",
    }

    assert len(datablist) == 10000
    assert len(rows) == 10000
    for field, header in columns.items():
        assert datablist[field].tolist() == [row[header] for row in rows], field


def test_datablist_defaults(datablist: pd.DataFrame) -> None:
    assert (datablist["country"] == "US").all()
    assert (datablist["consent_share"] == "yes").all()
    assert (datablist["consent_source"] == "datablist export (profile default)").all()
    assert len(Counter(datablist["lead_source"])) == 20


def test_datablist_gate_passes(
    datablist: pd.DataFrame, profiles: dict[str, Profile]
) -> None:
    gates.check_batch(datablist, profiles["datablist"], "leads-10000.csv")


# Generic


def test_generic_maps_every_field(tmp_path: Path, profiles: dict[str, Profile]) -> None:
    values = {field: f"{field} value" for field in LEAD_FIELDS}
    values["postcode"] = "02134"
    path = tmp_path / "leads.csv"
    pd.DataFrame([values, values]).to_csv(path, index=False)

    frame = apply_profile(read_lead_file(path), profiles["generic"])

    assert frame[list(LEAD_FIELDS)].to_dict("records") == [values, values]


def test_generic_requires_consent(tmp_path: Path, profiles: dict[str, Profile]) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("external_id,email\nL-1,a@example.com\n", encoding="utf-8")

    with pytest.raises(GateError) as caught:
        apply_profile(read_lead_file(path), profiles["generic"])

    assert "consent_share" in caught.value.reason


@pytest.mark.parametrize(
    ("header", "hinted"),
    [
        ("email,unsubscribed_at", True),
        ("Email,Opted Out", True),
        ("Phone", True),
        ("consent_share,name", False),
    ],
)
def test_missing_column_hints_optouts(
    tmp_path: Path, profiles: dict[str, Profile], header: str, hinted: bool
) -> None:
    path = tmp_path / "list.csv"
    row = ",".join(["a@example.com"] + ["x"] * header.count(","))
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")

    with pytest.raises(GateError) as caught:
        apply_profile(read_lead_file(path), profiles["generic"])

    assert ("import it with the optouts profile" in caught.value.fix) is hinted


def _optouts(tmp_path: Path, profiles: dict[str, Profile], text: str) -> pd.DataFrame:
    path = tmp_path / "optouts.csv"
    path.write_text(text, encoding="utf-8")
    return apply_profile(read_lead_file(path), profiles["optouts"])


def test_optouts_reads_other_headers(
    tmp_path: Path, profiles: dict[str, Profile]
) -> None:
    frame = _optouts(tmp_path, profiles, "Subscriber Email,Unsubscribed On\na@x.de,\n")

    assert frame.loc[0, "email"] == "a@x.de"
    assert frame.loc[0, "do_not_email"] == "yes"


def test_optouts_without_key_column_rejected(
    tmp_path: Path, profiles: dict[str, Profile]
) -> None:
    with pytest.raises(GateError) as caught:
        _optouts(tmp_path, profiles, "Customer,Unsubscribed On\nAcme,2026-12-01\n")

    assert "no e-mail or phone column, so no opt-out could be applied" in (
        caught.value.reason
    )


def test_optouts_rejects_lead_file(
    tmp_path: Path, profiles: dict[str, Profile]
) -> None:
    with pytest.raises(GateError) as caught:
        _optouts(tmp_path, profiles, "email,consent_share\na@x.de,yes\n")

    assert "the file has the consent column 'consent_share'" in caught.value.reason
    assert "remove the consent column" in caught.value.fix


def test_opt_out_list_needs_key_field() -> None:
    with pytest.raises(ValueError, match="must map email or phone"):
        Profile.model_validate(
            {
                "name": "x",
                "opt_out_list": True,
                "columns": {"company": "Company"},
                "defaults": {"do_not_email": "yes"},
            }
        )


def test_xeducation_rows_pass_gate(
    xeducation: pd.DataFrame, profiles: dict[str, Profile]
) -> None:
    required = profiles["xeducation"].required_fields

    assert required == ["external_id"]
    assert gates.check_rows(xeducation, required).isna().all()


def test_datablist_rows_pass_gate(datablist: pd.DataFrame) -> None:
    rules = load_config(REPO / "config").rules

    assert gates.check_rows(datablist, rules.required_fields).isna().all()


def test_unknown_folder_hint_without_generic(home: Path) -> None:
    from leadshare import pipeline
    from leadshare.runtime import build_context

    profiles = home / "config" / "profiles"
    text = (profiles / "generic.yaml").read_text(encoding="utf-8")
    (profiles / "generic.yaml").unlink()
    (profiles / "mine.yaml").write_text(
        text.replace("name: generic", "name: mine"), encoding="utf-8"
    )
    ctx = build_context()
    waiting = home / "inbox" / "generic" / "n.csv"
    waiting.parent.mkdir(parents=True)
    waiting.write_text("email\na@example.com\n", encoding="utf-8")
    item = pipeline.inbox_file(waiting, "generic")

    error = pipeline._unknown_profile_error(ctx, item)

    assert "inbox/mine/" in str(error)
    assert "means generic" not in str(error)
