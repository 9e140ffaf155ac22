"""Normalisation of e-mail, phone, country, name and company values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from leadshare import normalise
from leadshare.normalise import (
    NORMALISED_COLUMNS,
    company_key,
    name_key,
    normalise_country,
    normalise_email,
    normalise_frame,
    normalise_phone,
)


def _expected(shared_dir: Path, case: str) -> dict:
    text = (shared_dir / "cases" / case / "expected.json").read_text("utf-8")
    return json.loads(text)


def _read(path: Path) -> pd.DataFrame:
    """Read a case file as text, with empty cells as None."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.astype(object).where(frame != "", None)


# Acceptance cases


def test_email_case_and_spaces(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B01")
    history = normalise_frame(_read(shared_dir / "cases/B01/history.csv"))
    batch = normalise_frame(_read(shared_dir / "cases/B01/new_import.csv"))

    assert history.loc[0, "email_key"] == expected["match_key"]
    assert history.loc[0, "email_display"] == expected["stored_email_after"]
    assert batch["email_key"].tolist() == [expected["match_key"]] * 2
    assert batch["email_error"].isna().all()


def test_email_provider_aliases(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B02")
    batch = normalise_frame(_read(shared_dir / "cases/B02/leads.csv"))
    keys = batch["email_key"].tolist()

    for cluster in expected["probable_duplicate_clusters"]:
        rows = [row - 1 for row in cluster["rows"]]
        assert [keys[row] for row in rows] == [cluster["key"]] * len(rows)
    for first, second in expected["not_duplicates"]:
        assert keys[first - 1] != keys[second - 1]
    assert batch["email_display"].tolist() == expected["send_addresses_unchanged"]
    assert len(batch) == expected["rows_read"]


def test_phone_region_and_extension(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B06")
    batch = normalise_frame(_read(shared_dir / "cases/B06/leads.csv"))

    assert len(batch) == expected["rows_imported"]
    for phone in expected["phones"]:
        row = batch.iloc[phone["row"] - 1]
        assert row["country_code"] == phone["region"]
        assert row["phone_e164"] == phone["phone_e164"]
        assert row["phone_ext"] == phone["extension"]
        assert (row["phone_error"] is not None) == phone.get("warning", False)
    assert batch["phone_error"].notna().sum() == expected["warnings"]


def test_phone_wrong_region_not_accepted(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B06")
    result = normalise_phone("020 7946 0018", "US")

    assert result.e164 != expected["wrong_value_row_1_if_region_US"]
    assert result.e164 is None
    assert "region US" in result.error


def test_email_idn_and_odd_forms(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B25")
    batch = normalise_frame(_read(shared_dir / "cases/B25/leads.csv"))

    for number, facts in expected["rows"].items():
        row = batch.iloc[int(number) - 1]
        if "display_email" in facts:
            assert row["email_display"] == facts["display_email"], number
        if "smtp_ascii_email" in facts:
            assert row["email_ascii"] == facts["smtp_ascii_email"], number
        if "dedup_key" in facts:
            assert row["email_key"] == facts["dedup_key"], number
        if facts.get("status") == "rejected":
            assert row["email_error"] is not None, number
            assert row["email_key"] is None, number
    assert batch.loc[0, "email_key"] == batch.loc[1, "email_key"]


def test_email_trailing_dot_rejected(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B25")
    result = normalise_email("lena.brandt@example.com.")

    assert expected["rows"]["3"]["reason"] == "address ends with a period"
    assert "end with a period" in result.error
    assert result.display is None
    assert result.ascii is None
    assert result.key is None


def test_email_quoted_local_part(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B25")
    batch = normalise_frame(_read(shared_dir / "cases/B25/leads.csv"))
    row = batch.iloc[4]

    assert 'a separate lead keyed "lena.brandt"' in expected["rows"]["5"]["never"]
    assert row["email_key"] in (None, "lena.brandt@example.com")
    assert row["email_key"] is not None or row["email_error"] is not None


def test_email_rejected_forms_not_stored(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B25")
    batch = normalise_frame(_read(shared_dir / "cases/B25/leads.csv"))
    stored = set(batch[["email_display", "email_ascii", "email_key"]].stack())

    for raw in expected["never_stored"]:
        assert raw not in stored
        assert not batch["email_error"].fillna("").str.contains(raw, regex=False).any()


def test_email_full_width_domain() -> None:
    full_width = normalise_email("noor.haddad@ｅｘａｍｐｌｅ.org")
    ascii_form = normalise_email("noor.haddad@example.org")

    assert full_width.key == ascii_form.key
    assert full_width.display == "noor.haddad@example.org"


def test_email_full_width_local_part() -> None:
    full_width = normalise_email("ｎｏｏｒ@example.org")

    assert full_width.key == "noor@example.org"
    assert full_width.error is None


def test_country_exact_and_aliases(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B27")
    leads = _read(shared_dir / "cases/B27/leads.csv")
    batch = normalise_frame(leads).set_index("lead_id")

    for lead_id, code in expected["country_alpha2"].items():
        assert batch.loc[lead_id, "country_code"] == code, lead_id


def test_country_flags_not_guesses(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B27")
    batch = normalise_frame(_read(shared_dir / "cases/B27/leads.csv"))
    errors = batch.set_index("lead_id")["country_error"]

    assert set(errors.dropna().index) == set(expected["flagged_for_review"])
    assert errors["L-2714"].startswith("ambiguous: Korea (KR or KP)")
    assert errors["L-2715"].startswith("unknown country name")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("de", "DE"),
        ("DEU", "DE"),
        (" germany ", "DE"),
        ("USA", "US"),
        ("côte d'ivoire", "CI"),
        ("Deutschland", "DE"),
        ("OSTERREICH", "AT"),
        ("España", "ES"),
        ("Schweiz", "CH"),
        ("Sverige", "SE"),
        ("Türkiye", "TR"),
    ],
)
def test_country_codes_and_names(raw: str, code: str) -> None:
    assert normalise_country(raw) == (code, None)


@pytest.mark.parametrize("raw", ["Germny", "276", "Congo", "Europe"])
def test_country_no_fuzzy_or_numeric(raw: str) -> None:
    result = normalise_country(raw)

    assert result.code is None
    assert result.error is not None


def test_country_xeducation_placeholders(shared_dir: Path) -> None:
    leads = pd.read_csv(shared_dir / "data/xeducation-leads/Leads.csv", dtype=str)
    countries = normalise_frame(leads.rename(columns={"Country": "country"}))
    flagged = countries.loc[countries["country_error"].notna(), "country"]

    assert flagged.value_counts().to_dict() == {"unknown": 5, "Asia/Pacific Region": 2}
    assert countries["country"].isna().sum() == 2461
    assert countries["country_code"].isna().sum() == 2461 + 7


# Units


def test_blank_values_are_missing() -> None:
    assert normalise_email("  ") == (None, None, None, None)
    assert normalise_phone(None, "DE") == (None, None, None)
    assert normalise_country("") == (None, None)


def test_phone_local_needs_region() -> None:
    result = normalise_phone("030 1234567", None)

    assert result.e164 is None
    assert "country" in result.error


def test_phone_international_without_region() -> None:
    result = normalise_phone("+49 30 1234567 ext. 55", None)

    assert result == ("+49301234567", "55", None)


def test_phone_double_zero_prefix_in_us() -> None:
    assert normalise_phone("001-307-937-7505", "US") == ("+13079377505", None, None)
    assert normalise_phone("001-307-937-7505x12", "US") == ("+13079377505", "12", None)
    assert normalise_phone("0049 30 1234567", None) == ("+49301234567", None, None)


def test_phone_double_zero_prefix_still_invalid() -> None:
    # +1 555 000 0000 is no valid number either, so the error stays.
    result = normalise_phone("001-555-000-0000", "US")

    assert result.e164 is None
    assert "region US" in result.error


def test_phone_valid_national_number_unchanged() -> None:
    assert normalise_phone("030 1234567", "DE").e164 == "+49301234567"
    assert normalise_phone("(307) 937-7505", "US").e164 == "+13079377505"


def test_phone_datablist_double_zero_prefix(shared_dir: Path) -> None:
    """Every 001- phone of the Datablist file reads as its +1- spelling does."""
    path = shared_dir / "data" / "datablist-leads" / "leads-10000.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    phones = [value for value in frame["Phone 1"] if value.startswith("001-")]

    accepted = 0
    for phone in phones:
        result = normalise_phone(phone, "US")
        plus_form = normalise_phone("+1-" + phone[4:], "US")
        assert result.e164 == plus_form.e164, phone
        assert result.extension == plus_form.extension, phone
        accepted += result.e164 is not None
    assert len(phones) == 1645
    assert accepted == 929


def test_name_key_accents_and_case() -> None:
    assert name_key("Anna", "Wikström") == name_key("ANNA", "wikstrom")
    assert name_key(" Jürgen ", "O'Brien-Groß") == "jurgen obrien gross"
    assert name_key(None, "  ") is None


def test_company_key_legal_forms() -> None:
    assert company_key("Quist Tooling GmbH") == company_key("Quist Tooling")
    assert company_key("Example Ltd.") == "example"
    assert company_key("Société Générale S.A.R.L.") == "societe generale"
    assert company_key("AB") == "ab"
    assert company_key("") is None


@pytest.mark.parametrize(
    "raw",
    [
        "Anna Lee <anna.lee@example.com>",
        '"Lee, Anna" <anna.lee@example.com>',
        "<anna.lee@example.com>",
        "  <Anna.Lee@Example.com>  ",
        "mailto:anna.lee@example.com",
        "MAILTO:anna.lee@example.com?subject=Hello",
        "Anna Lee <mailto:anna.lee@example.com>",
    ],
)
def test_email_wrapped_forms_unwrapped(raw: str) -> None:
    result = normalise_email(raw)

    assert result.error is None
    assert result.key == "anna.lee@example.com"
    assert result.display.lower() == "anna.lee@example.com"


@pytest.mark.parametrize(
    "raw",
    ["Anna <anna@example.com> extra", "<a@example.com><b@example.com>", "mailto:"],
)
def test_email_broken_wrapping_rejected(raw: str) -> None:
    result = normalise_email(raw)

    assert result.key is None
    assert result.error is not None


def test_frame_replaces_wrapped_email() -> None:
    frame = pd.DataFrame(
        {
            "email": ["Anna <a@example.com>", "mailto:b@example.com", "c@example.com"],
            "country": "DE",
        }
    )
    out = normalise_frame(frame)

    assert out["email"].tolist() == ["a@example.com", "b@example.com", "c@example.com"]
    assert out["email_key"].tolist() == out["email"].tolist()
    assert frame.loc[0, "email"] == "Anna <a@example.com>"


def test_frame_sends_normalised_email() -> None:
    frame = pd.DataFrame(
        {
            "email": [
                "Hanni.Junck@Hotmail.De",
                "Anna Beispiel <Anna.Beispiel@Beispiel-X.DE>",
                " achim.roskoth@hotmail.de ",
                "bad@",
                None,
            ],
            "country": "DE",
        }
    )
    out = normalise_frame(frame)

    assert out["email"].tolist() == [
        "Hanni.Junck@hotmail.de",
        "Anna.Beispiel@beispiel-x.de",
        "achim.roskoth@hotmail.de",
        "bad@",
        None,
    ]
    assert out["email"].tolist()[:3] == out["email_display"].tolist()[:3]


def test_frame_email_from_arrow_column() -> None:
    emails = pd.Series(["CAROLA@BEISPIEL-Z.DE", "x@"], dtype="string[pyarrow]")
    out = normalise_frame(pd.DataFrame({"email": emails, "country": "DE"}))

    assert out["email"].tolist() == ["CAROLA@beispiel-z.de", "x@"]
    assert out["email"].dtype == emails.dtype


def test_frame_keeps_email_column_unchanged() -> None:
    emails = pd.Series(
        ["a@example.com", None, "b@example.org"], dtype="string[pyarrow]"
    )
    frame = pd.DataFrame({"email": emails, "country": "DE"})
    out = normalise_frame(frame)

    assert out["email"].dtype == emails.dtype
    assert out["email"].tolist()[0] == "a@example.com"
    assert pd.isna(out["email"].tolist()[1])
    assert out["email"].tolist()[2] == "b@example.org"


def test_frame_keeps_invalid_rows() -> None:
    frame = pd.DataFrame({"email": ["bad@", "ok@example.com", None], "country": "DE"})
    out = normalise_frame(frame)

    assert len(out) == 3
    assert out.loc[0, "email_error"].startswith("invalid email")
    assert out.loc[1, "email_key"] == "ok@example.com"
    assert out.loc[2, "email_error"] is None
    assert set(NORMALISED_COLUMNS) <= set(out.columns)


def test_frame_parallel_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    emails = [f"user{i}+x@Example.com" if i % 7 else "broken@" for i in range(600)]
    phones = [f"030 {1_000_000 + i}" if i % 5 else "n/a" for i in range(600)]
    frame = pd.DataFrame({"email": emails, "phone": phones, "country": "Germany"})
    serial = normalise_frame(frame)
    monkeypatch.setattr(normalise, "PARALLEL_MIN_DISTINCT", 100)
    monkeypatch.setattr(normalise, "CHUNK_SIZE", 128)
    parallel = normalise_frame(frame)

    pd.testing.assert_frame_equal(serial, parallel)
    assert serial["email_error"].notna().sum() == emails.count("broken@")


def test_frame_uses_workers_started_early(monkeypatch: pytest.MonkeyPatch) -> None:
    emails = [f"lead{i}@example.com" for i in range(300)]
    frame = pd.DataFrame({"email": emails, "phone": "030 1234567", "country": "DE"})
    serial = normalise_frame(frame)
    monkeypatch.setattr(normalise, "PARALLEL_MIN_DISTINCT", 100)
    normalise.start_workers_early()
    early = normalise._standby
    assert early is not None and early.alive()

    pd.testing.assert_frame_equal(normalise_frame(frame), serial)
    # The batch took the early workers and stopped them when it was done.
    assert normalise._standby is None
    assert all(process.returncode == 0 for process in early.processes)


def test_dead_early_worker_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame({"email": [f"lead{i}@example.com" for i in range(300)]})
    serial = normalise_frame(frame)
    monkeypatch.setattr(normalise, "PARALLEL_MIN_DISTINCT", 100)
    normalise.start_workers_early()
    normalise._standby.processes[0].kill()
    normalise._standby.processes[0].wait()

    pd.testing.assert_frame_equal(normalise_frame(frame), serial)
    assert normalise._standby is None


def test_stuck_worker_killed_on_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys
    import time

    monkeypatch.setattr(normalise, "STOP_TIMEOUT_S", 0.5)
    workers = normalise._Workers(1)
    # A worker that ignores the end of its input, as a hung one would.
    stuck = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    workers.processes.append(stuck)
    started = time.monotonic()
    workers.__exit__(None, None, None)

    assert time.monotonic() - started < 10
    assert workers.processes[0].returncode == 0
    assert stuck.returncode is not None
    assert stuck.returncode < 0


# Properties

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_LOCAL = st.text(alphabet=_ALNUM + "._+-", min_size=1, max_size=20)
_LABEL = st.text(alphabet=_ALNUM, min_size=1, max_size=12)
_DOMAIN = st.sampled_from(
    ["gmail.com", "googlemail.com", "example.org", "bücher.example"]
)


@given(local=_LOCAL, label=_LABEL, domain=_DOMAIN)
def test_email_key_idempotent(local: str, label: str, domain: str) -> None:
    for address in (f"{local}@{domain}", f"{local}@{label}.example.com"):
        first = normalise_email(address)
        assume(first.error is None)
        # A tag removed after a dot ("a.+x") leaves a key that is no valid address.
        again = normalise_email(first.key)
        assume(again.error is None)
        assert again.key == first.key


@given(local=_LOCAL, label=_LABEL)
def test_email_key_ignores_case(local: str, label: str) -> None:
    address = f"{local}@{label}.example.com"
    lower = normalise_email(address)
    assume(lower.error is None)

    assert normalise_email(address.upper()).key == lower.key
    assert normalise_email(f"  {address}\t").key == lower.key
