"""Tests of the example lead generator: determinism, format and the mess it adds."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pandas as pd
import phonenumbers
import pytest

from leadshare.generate import (
    COMPETITOR_DOMAINS,
    PLACEHOLDERS,
    STRATEGIC_ACCOUNTS,
    generate_leads,
    main,
    write_leads,
)
from leadshare.model import LEAD_FIELDS

START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
SAMPLE_ROWS = 5_000


@pytest.fixture(scope="module")
def messy() -> pd.DataFrame:
    return generate_leads(SAMPLE_ROWS, seed=11, start=START)


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return generate_leads(SAMPLE_ROWS, seed=11, messy=False, start=START)


def _email_keys(frame: pd.DataFrame) -> pd.Series:
    return frame["email"].dropna().str.strip().str.lower()


def _phone_is_valid(phone: str, country: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(phone, country))
    except phonenumbers.NumberParseException:
        return False


def test_same_seed_same_bytes(tmp_path):
    first = write_leads(tmp_path / "a.csv", 3_000, seed=5, start=START)
    second = write_leads(tmp_path / "b.csv", 3_000, seed=5, start=START)
    assert first.read_bytes() == second.read_bytes()


def test_other_seed_other_bytes(tmp_path):
    first = write_leads(tmp_path / "a.csv", 3_000, seed=5, start=START)
    second = write_leads(tmp_path / "b.csv", 3_000, seed=6, start=START)
    assert first.read_bytes() != second.read_bytes()


def test_csv_header_and_row_count(tmp_path):
    path = write_leads(tmp_path / "leads.csv", 2_000, seed=1, start=START)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(LEAD_FIELDS)
    assert len(rows) == 2_001
    assert {len(row) for row in rows} == {len(LEAD_FIELDS)}


def test_jsonl_keys_and_row_count(tmp_path):
    path = write_leads(tmp_path / "leads.jsonl", 500, seed=1, fmt="jsonl", start=START)
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert len(records) == 500
    assert list(records[0]) == list(LEAD_FIELDS)


def test_frame_columns_and_cell_types(messy):
    assert list(messy.columns) == list(LEAD_FIELDS)
    assert len(messy) == SAMPLE_ROWS
    cell_types = {type(value) for value in messy.to_numpy().ravel()}
    assert cell_types <= {str, type(None)}


def test_external_ids_unique(messy):
    assert messy["external_id"].is_unique
    assert messy["external_id"].notna().all()


def test_external_ids_differ_across_seeds():
    first = generate_leads(50, seed=11)["external_id"]
    second = generate_leads(50, seed=21)["external_id"]

    assert not set(first) & set(second)


def test_exact_duplicates_differ_in_case(messy):
    keys = _email_keys(messy)
    repeated = keys[keys.duplicated(keep=False)]
    raw = messy.loc[repeated.index, "email"].str.strip()
    assert keys.duplicated().sum() >= 0.02 * SAMPLE_ROWS
    assert raw.nunique() > repeated.nunique()


def test_fuzzy_duplicates_share_phone(messy):
    present = messy[messy["phone"].notna() & ~messy["phone"].isin(PLACEHOLDERS)]
    groups = present.groupby("phone")
    names = groups["last_name"].nunique(dropna=True)
    companies = groups["company"].nunique(dropna=True)
    typo_pairs = ((names > 1) | (companies > 1)).sum()
    assert typo_pairs >= 0.01 * SAMPLE_ROWS


def test_placeholders_present(messy):
    assert messy["industry"].isin(["Select"] + list(PLACEHOLDERS)).sum() > 0
    assert messy.isin(["Select"]).to_numpy().sum() > 0
    assert messy.isin(["N/A", "n/a"]).to_numpy().sum() > 0


def test_blanks_present(messy):
    assert messy["company_size"].isna().sum() > 0
    assert messy["consent_share"].isna().sum() > 0


def test_phones_mostly_valid_some_invalid(messy):
    iso_rows = messy[messy["country"].isin(["DE", "US", "GB", "FR", "NL", "AT"])]
    iso_rows = iso_rows[
        iso_rows["phone"].notna() & ~iso_rows["phone"].isin(PLACEHOLDERS)
    ]
    valid = [
        _phone_is_valid(phone, country)
        for phone, country in zip(iso_rows["phone"], iso_rows["country"], strict=True)
    ]
    assert sum(valid) / len(valid) > 0.9
    assert sum(valid) < len(valid)


def test_emails_have_case_space_and_gmail_noise(messy):
    emails = messy["email"].dropna()
    assert (emails != emails.str.strip()).sum() > 0
    assert (emails.str.strip() != emails.str.strip().str.lower()).sum() > 0
    assert emails.str.contains(r"\+\w+@gmail\.com").sum() > 0
    assert emails.str.lower().str.contains("@googlemail.com").sum() > 0


def test_countries_as_codes_names_unknown(messy):
    countries = messy["country"].dropna()
    assert countries.str.fullmatch(r"[A-Z]{2}").mean() > 0.7
    assert countries.isin(["Germany", "Deutschland", "UK", "United Kingdom"]).sum() > 0
    assert countries.isin(["Atlantis", "XX", "EU", "Europe", "Other"]).sum() > 0


def test_competitors_and_strategic_accounts(messy):
    emails = messy["email"].dropna().str.strip().str.lower()
    competitor = emails.str.endswith(
        tuple("@" + domain for domain in COMPETITOR_DOMAINS)
    )
    companies = messy["company"].dropna()
    strategic = companies.str.startswith(STRATEGIC_ACCOUNTS)
    assert competitor.sum() > 0
    assert strategic.sum() > 0


def test_postcodes_keep_some_leading_zeros(messy):
    postcodes = messy["postcode"].dropna()
    assert postcodes.str.match(r"^0\d{4}$").sum() > 0
    assert postcodes.str.match(r"^\d{4}$").sum() > 0


def test_activity_within_window(messy):
    parsed = pd.to_datetime(messy["last_activity_at"], utc=True, format="mixed")
    ages = (pd.Timestamp(START) - parsed.dropna()).dt.total_seconds() / 86_400
    assert ages.min() >= 0
    assert ages.max() <= 61
    assert (ages > 30).mean() > 0.1


def test_consent_values(messy):
    values = set(messy["consent_share"].dropna().str.lower())
    assert values == {"yes", "no"}
    with_consent = messy["consent_share"].str.lower() == "yes"
    assert messy.loc[with_consent, "consent_source"].notna().mean() > 0.9
    assert messy.loc[with_consent, "consent_source"].isna().sum() > 0


def test_clean_has_no_mess(clean):
    assert clean.isin(PLACEHOLDERS).to_numpy().sum() == 0
    assert not _email_keys(clean).duplicated().any()
    assert (clean["email"] == clean["email"].str.strip().str.lower()).all()
    assert clean["country"].str.fullmatch(r"[A-Z]{2}").all()


def test_clean_phones_all_valid(clean):
    valid = [
        _phone_is_valid(phone, country)
        for phone, country in zip(clean["phone"], clean["country"], strict=True)
    ]
    assert all(valid)


def test_naive_start_rejected():
    with pytest.raises(ValueError, match="time zone"):
        generate_leads(10, seed=1, start=dt.datetime(2025, 3, 1))  # noqa: DTZ001


def test_zero_rows():
    frame = generate_leads(0, seed=1, start=START)
    assert list(frame.columns) == list(LEAD_FIELDS)
    assert frame.empty


def test_unknown_format_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        write_leads(tmp_path / "x.xml", 10, seed=1, fmt="xml")


def test_cli_writes_file(tmp_path):
    out = tmp_path / "cli.csv"
    main([str(out), "--rows", "300", "--seed", "3", "--start", "2025-03-01T00:00:00Z"])
    expected = write_leads(tmp_path / "api.csv", 300, seed=3, start=START)
    assert out.read_bytes() == expected.read_bytes()


def test_same_seed_same_file_in_any_process(tmp_path):
    import os
    import subprocess
    import sys

    sums = []
    for hash_seed in ("1", "2"):
        path = tmp_path / f"leads-{hash_seed}.csv"
        subprocess.run(
            [sys.executable, "-m", "leadshare.generate", str(path), "--rows", "2000"]
            + ["--seed", "7"],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            check=True,
            capture_output=True,
        )
        sums.append(path.read_bytes())

    assert sums[0] == sums[1]
