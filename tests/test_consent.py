"""Consent flags, opt-outs and the suppression list."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadshare.consent import (
    FALSE_TOKENS,
    TRUE_TOKENS,
    SuppressionEntry,
    apply_consent,
    parse_flag,
)
from leadshare import record_text
from leadshare.normalise import normalise_frame

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def _expected(shared_dir: Path, case: str) -> dict:
    text = (shared_dir / "cases" / case / "expected.json").read_text("utf-8")
    return json.loads(text)


def _read(path: Path, **defaults: str) -> pd.DataFrame:
    """Read a case file as text (empty cells as None) and add profile defaults."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame.astype(object).where(frame != "", None)
    for column, value in defaults.items():
        frame[column] = value
    return normalise_frame(frame)


# Acceptance cases


def test_dnc_tokens_in_file(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B16")
    leads = _read(shared_dir / "cases/B16/leads.csv", consent_share="yes")
    out, _ = apply_consent(leads, set(), now=NOW)
    by_email = out.set_index("email")

    assert len(out) == expected["rows_read"]
    for email in expected["opted_out"]:
        assert by_email.loc[email, "outcome"] == "suppressed", email
        assert by_email.loc[email, "rule"] == "opted_out", email
    for email in expected["not_opted_out"] + expected["no_information_keep_existing"]:
        assert by_email.loc[email, "outcome"] is None, email
    for email in expected["rejected_or_flagged_for_review"]:
        assert by_email.loc[email, "outcome"] == "quarantined", email
        assert by_email.loc[email, "rule"] == "dnc_unknown_token", email
        assert "'Oui'" in by_email.loc[email, "reason"], email


def test_true_tokens_any_case(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B16")

    for token in expected["true_tokens_case_insensitive"]:
        assert parse_flag(token) == (True, None)
        assert parse_flag(token.upper()) == (True, None)
        assert parse_flag(f" {token.title()} ") == (True, None)


def test_blank_means_no_information() -> None:
    assert parse_flag("") == (None, None)
    assert parse_flag("   ") == (None, None)
    assert parse_flag(None) == (None, None)
    assert parse_flag(float("nan")) == (None, None)


def test_unknown_token_flagged() -> None:
    value, error = parse_flag("Oui")

    assert value is None
    assert "'Oui'" in error
    assert "profile" in error


@pytest.mark.parametrize(
    ("raw", "expected"), [("1.0", True), (" 0.00 ", False), ("1e0", True), (1.0, True)]
)
def test_numeric_flag_forms(raw: object, expected: bool) -> None:
    assert parse_flag(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["2", "0.5", "nan", "-1"])
def test_other_numbers_unknown(raw: str) -> None:
    value, error = parse_flag(raw)

    assert value is None
    assert error is not None


def test_xeducation_opted_out_count(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B16")
    leads = pd.read_csv(shared_dir / "data/xeducation-leads/Leads.csv", dtype=str)
    flags = [parse_flag(value) for value in leads["Do Not Email"]]
    frame = leads.rename(
        columns={"Do Not Email": "do_not_email", "Do Not Call": "do_not_call"}
    )
    # The file has no e-mail or phone: its source id is each person's only key.
    frame["external_key"] = "ext:xeducation:" + frame["Prospect ID"]
    out, entries = apply_consent(frame, set(), now=NOW)

    assert sum(value is True for value, _ in flags) == 734
    assert sum(value is True for value, _ in flags) == expected[
        "x_education_leads_csv_opted_out"
    ]
    assert all(error is None for _, error in flags)
    assert (out["rule"] == "opted_out").sum() == 734
    assert (out["rule"] == "no_consent").sum() == len(leads) - 734
    assert len(entries) == 734
    assert {entry.kind for entry in entries} == {"external_id"}


def test_opt_out_without_keys_not_applied() -> None:
    batch = _batch(
        email=[None, "n/a", "a@x.com"],
        email_key=[None, None, "a@x.com"],
        phone=["030 7777777", None, None],
        phone_e164=[None, None, None],
        do_not_email="yes",
    )

    out, entries = apply_consent(batch, set(), now=NOW)

    assert out["outcome"].tolist() == ["quarantined", "quarantined", "suppressed"]
    assert out["rule"].tolist()[:2] == ["opt_out_not_applied"] * 2
    assert (
        "phone (a number of 7 digits or more, not shown) is not a valid phone number"
        in out.loc[0, "reason"]
    )
    assert "7777777" not in out.loc[0, "reason"]
    assert "email 'n/a' is not a valid e-mail address" in out.loc[1, "reason"]
    assert [entry.key for entry in entries] == ["a@x.com"]


def _opted_out_keys(shared_dir: Path) -> set[str]:
    history = _read(shared_dir / "cases/B10/history.csv", consent_share="yes")
    _, entries = apply_consent(history, set(), source="history", now=NOW)
    return {entry.key for entry in entries}


@pytest.mark.parametrize("name", ["new_import.csv", "new_import_upper.csv"])
def test_reimport_keeps_opt_out(shared_dir: Path, name: str) -> None:
    expected = _expected(shared_dir, "B10")
    suppressed = _opted_out_keys(shared_dir)
    batch = _read(shared_dir / "cases/B10" / name, consent_share="yes")
    out, entries = apply_consent(batch, suppressed, now=NOW)
    shared = out.loc[out["outcome"].isna(), "email_key"].tolist()

    assert name in expected["applies_to"]
    assert suppressed == {"nina.park@example.com"}
    assert shared == expected["next_transfer_emails"]
    suppressed_rows = (out["outcome"] == "suppressed").sum()
    assert suppressed_rows == expected["rows_suppressed_opted_out"]
    assert out.loc[0, "rule"] == "suppression_list"
    assert out.loc[0, "reason"].startswith("opted out")
    assert entries == []


# Units


def _batch(**columns: list) -> pd.DataFrame:
    size = len(next(iter(columns.values())))
    frame = pd.DataFrame(columns)
    frame["_row"] = range(1, size + 1)
    return frame


def test_missing_consent_suppressed() -> None:
    batch = _batch(
        email_key=["a@x.com", "b@x.com", "c@x.com"],
        consent_share=[None, "no", "yes"],
    )
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out["outcome"].tolist() == ["suppressed", "suppressed", None]
    assert out["rule"].tolist() == ["no_consent", "no_consent", None]
    assert "empty" in out.loc[0, "reason"]
    assert out.loc[1, "reason"] == "no consent to share: consent_share is no"


def test_opt_out_status_tokens() -> None:
    batch = _batch(
        email_key=["a@x.com", "b@x.com", "c@x.com"],
        status=["Unsubscribed", "opted-out", "active"],
        consent_share="yes",
    )
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out["rule"].tolist() == ["opted_out", "opted_out", None]
    assert out.loc[0, "reason"] == "opted out: status is Unsubscribed"
    assert out.loc[1, "reason"] == "opted out: status is opted-out"


@pytest.mark.parametrize(
    ("status", "opts_out"),
    [
        ("unsubscribe", True),
        ("Unsubscribed (manual)", True),
        ("unsubscribed_by_user", True),
        ("Opt-Out", True),
        ("OPTED_OUT", True),
        ("do not contact", True),
        ("Do-Not-Email", True),
        ("Spam complaint", True),
        ("DNC", True),
        ("OptedOut", True),
        ("DoNotEmail", True),
        ("Consent withdrawn", True),
        ("Do not call or email", True),
        ("GDPR erasure request", True),
        ("Abgemeldet", True),
        ("Désinscrit", True),
        ("Ne pas contacter", True),
        ("Bitte nicht kontaktieren", True),
        ("No consent", True),
        ("Do not share", True),
        ("Löschung beantragt", True),
        ("Withdrawn", True),
        ("Deceased", True),
        ("No answer", False),
        ("Not interested", False),
        ("Do not call", False),
        ("OptedIn", False),
        ("Not unsubscribed", False),
        ("never opted out", False),
        ("subscribed", False),
        ("re-subscribed", False),
        ("Opted in", False),
        ("Customer", False),
        ("  ", False),
    ],
)
def test_opt_out_status_forms(status, opts_out) -> None:
    batch = _batch(email_key=["a@x.com"], status=[status], consent_share="yes")

    out, entries = apply_consent(batch, set(), now=NOW)

    assert (out.loc[0, "rule"] == "opted_out") is opts_out
    assert (len(entries) > 0) is opts_out


def test_opt_out_reason_names_flag() -> None:
    batch = _batch(
        email_key=["a@x.com", "b@x.com"],
        do_not_email=["Yes", "No"],
        status=["unsubscribed", "active"],
        consent_share="yes",
    )
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out.loc[0, "reason"] == "opted out: do_not_email is yes"
    assert pd.isna(out.loc[1, "outcome"])


def test_unsubscribe_time_is_an_opt_out() -> None:
    batch = _batch(
        email_key=["a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com"],
        do_not_email=["no", "no", "yes", "no", "no"],
        status=["new", "new", "new", "unsubscribed", "new"],
        unsubscribed_at=[
            "2026-01-25T09:12:28+02:00",
            "11/25/2025",
            "2026-01-02",
            None,
            "  ",
        ],
        consent_share="yes",
    )
    out, entries = apply_consent(batch, set(), now=NOW)

    assert out["rule"].tolist() == ["opted_out"] * 4 + [None]
    assert out.loc[0, "reason"] == (
        "opted out: unsubscribed_at is 2026-01-25T09:12:28+02:00"
    )
    assert out.loc[1, "reason"] == "opted out: unsubscribed_at is 11/25/2025"
    assert out.loc[2, "reason"] == "opted out: do_not_email is yes"
    assert out.loc[3, "reason"] == "opted out: status is unsubscribed"
    assert {entry.key for entry in entries} >= {"a@x.com", "b@x.com"}


def test_consent_time_checked_when_consent_given() -> None:
    batch = _batch(
        email_key=[f"{name}@x.com" for name in "abcdefg"],
        consent_share=["yes", "yes", "yes", "yes", "no", "yes", "yes"],
        consent_at=[
            "2026-02-01T10:00:00Z",
            "02/01/2026",
            "2026-02-01T10:00:00+25:00",
            "2027-01-01T00:00:00Z",
            "02/01/2026",
            None,
            "20260201T100000Z",
        ],
    )
    batch.index = batch.index + 10  # labels, not positions, tie rows to reasons

    out, _ = apply_consent(batch, set(), now=NOW)

    assert out["rule"].tolist() == [
        None,
        "consent_time_unreadable",
        "consent_time_unreadable",
        "consent_time_in_future",
        "no_consent",
        None,
        None,
    ]
    assert out.loc[11, "outcome"] == "quarantined"
    assert out.loc[11, "reason"].startswith("consent_at '02/01/2026' is not a valid")
    assert "'2026-02-01T10:00:00+25:00'" in out.loc[12, "reason"]
    assert out.loc[13, "reason"].startswith("consent_at 2027-01-01 00:00 UTC is after")


def test_phone_on_suppression_list() -> None:
    batch = _batch(
        email_key=["new@x.com"],
        phone_e164=["+4930123456"],
        consent_share=["yes"],
    )
    out, _ = apply_consent(batch, {"+4930123456"}, now=NOW)

    assert out.loc[0, "outcome"] == "suppressed"
    assert out.loc[0, "rule"] == "suppression_list"


def test_opt_out_spreads_in_batch() -> None:
    batch = _batch(
        email_key=["a@x.com", "a@x.com"],
        do_not_email=["no", "yes"],
        consent_share="yes",
    )
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out["rule"].tolist() == ["suppression_list", "opted_out"]


def test_duplicate_opt_out_suppresses_kept_lead() -> None:
    # Row 2 repeats row 1 by name and company with other contact details, and
    # opted out. Row 1 was kept by dedup, so it carries the person's opt-out.
    batch = _batch(
        lead_id=["L-1", "L-2", "L-3"],
        email_key=["jane@acme.example", "j.doe@mail.example", "bob@acme.example"],
        do_not_email=["no", "yes", "no"],
        consent_share="yes",
        outcome=[None, "duplicate", None],
        duplicate_of=[None, "L-1", None],
    )
    out, entries = apply_consent(batch, set(), source="run 8", now=NOW)

    assert out.loc[0, "outcome"] == "suppressed"
    assert out.loc[0, "rule"] == "opted_out"
    assert "duplicate row" in out.loc[0, "reason"]
    # The opt-out row itself is suppressed as well, not counted as a duplicate.
    assert out.loc[1, "outcome"] == "suppressed"
    assert out.loc[2, "outcome"] is None
    assert sorted(e.key for e in entries) == ["j.doe@mail.example", "jane@acme.example"]


def test_opt_out_duplicate_of_held_lead() -> None:
    # Row 1 repeats held lead L-OLD (by external id, with a new e-mail) and opts
    # out. Row 2 repeats a held lead without opting out and stays a duplicate.
    batch = _batch(
        lead_id=["L-1", "L-2"],
        email_key=["new@acme.example", "bob@acme.example"],
        do_not_email=["yes", "no"],
        consent_share="yes",
        outcome=["duplicate", "duplicate"],
        rule=["same source and external id", "same email key"],
        reason=["duplicate of L-OLD", "duplicate of L-BOB"],
        duplicate_of=["L-OLD", "L-BOB"],
        held_email_key=["old@acme.example", "bob@acme.example"],
        held_phone_e164=["+4930999", None],
    )
    out, entries = apply_consent(batch, set(), source="run 9", now=NOW)

    assert out.loc[0, "outcome"] == "suppressed"
    assert out.loc[0, "rule"] == "opted_out"
    assert out.loc[0, "reason"].startswith("opted out: do_not_email is yes")
    assert "withdraws held lead L-OLD" in out.loc[0, "reason"]
    assert out.loc[1, "outcome"] == "duplicate"
    assert out.loc[1, "reason"] == "duplicate of L-BOB"
    assert sorted(e.key for e in entries) == [
        "+4930999",
        "new@acme.example",
        "old@acme.example",
    ]


def test_opt_out_duplicate_of_batch_row() -> None:
    # Row 2 repeats row 1 of the same file and opts out: both end suppressed.
    batch = _batch(
        lead_id=["L-1", "L-2", "L-3"],
        email_key=["ann@acme.example", "ann@acme.example", "cy@acme.example"],
        do_not_email=["no", "yes", "no"],
        consent_share="yes",
        outcome=[None, "duplicate", None],
        rule=[None, "same email key", None],
        reason=[None, "duplicate of L-1", None],
        duplicate_of=[None, "L-1", None],
    )
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out["outcome"].tolist() == ["suppressed", "suppressed", None]
    assert out.loc[1, "rule"] == "opted_out"
    assert out.loc[1, "reason"] == (
        "opted out: do_not_email is yes; the row it repeats (L-1) is suppressed too"
    )
    assert out.loc[0, "rule"] == "opted_out"


def test_refusal_withdraws_held_and_batch_leads() -> None:
    # Row 1 refuses consent for held lead L-OLD. Row 3 refuses for the person of
    # row 2 in the same file. Row 4 consents and stays open.
    batch = _batch(
        lead_id=["L-1", "L-2", "L-3", "L-4"],
        email_key=["old@x.example", "ann@x.example", "ann@x.example", "bo@x.example"],
        do_not_email="no",
        consent_share=["no", "yes", "no", "yes"],
        outcome=["duplicate", None, "duplicate", None],
        duplicate_of=["L-OLD", None, "L-2", None],
    )
    out, entries = apply_consent(batch, set(), now=NOW)

    assert out["outcome"].tolist() == ["suppressed"] * 3 + [None]
    assert out["rule"].tolist()[:3] == ["no_consent"] * 3
    assert "withdraws held lead L-OLD" in out.loc[0, "reason"]
    assert out.loc[0, "withdraws"] == "L-OLD"
    assert "duplicate row of this lead has consent_share no" in out.loc[1, "reason"]
    assert "the row it repeats (L-2)" in out.loc[2, "reason"]
    # A refusal is not an opt-out: nothing goes on the suppression list.
    assert entries == []


def test_do_not_call_spreads_to_person() -> None:
    # Row 2 repeats row 1 in this file with do_not_call yes. Row 3 repeats held
    # lead L-OLD with do_not_call yes. Row 4 replaces a do-not-call held lead.
    batch = _batch(
        lead_id=["L-1", "L-2", "L-3", "L-4", "L-5"],
        email_key=[f"{name}@x.example" for name in "abcde"],
        consent_share="yes",
        do_not_call=["no", "yes", "yes", None, "no"],
        outcome=[None, "duplicate", "duplicate", None, None],
        duplicate_of=[None, "L-1", "L-OLD", None, None],
        duplicate_held=[False, False, True, False, False],
        held_do_not_call=[False, False, False, True, False],
    )
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out["do_not_call_flag"].tolist() == [True, True, True, True, False]
    assert out["marks_do_not_call"].tolist() == [None, None, "L-OLD", None, None]


def test_entries_for_new_opt_outs() -> None:
    batch = _batch(
        email_key=["a@x.com", "b@x.com", "c@x.com"],
        phone_e164=["+4930111", None, None],
        do_not_email=["y", "Y", "n"],
        consent_share="yes",
        outcome=["duplicate", None, None],
    )
    out, entries = apply_consent(batch, {"b@x.com"}, source="run 7", now=NOW)

    assert entries == [
        SuppressionEntry("a@x.com", "email", "opted out", "run 7", NOW),
        SuppressionEntry("+4930111", "phone", "opted out", "run 7", NOW),
    ]
    assert out.loc[0, "outcome"] == "duplicate"


def test_unknown_do_not_call_quarantined() -> None:
    batch = _batch(email_key=["a@x.com"], do_not_call=["maybe"], consent_share="yes")
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out.loc[0, "outcome"] == "quarantined"
    assert out.loc[0, "reason"].startswith("do_not_call: unknown value 'maybe'")


def test_finished_rows_untouched() -> None:
    batch = _batch(
        email_key=["a@x.com"],
        consent_share=[None],
        outcome=["quarantined"],
        rule=["email_invalid"],
        reason=["bad"],
    )
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out.loc[0, "rule"] == "email_invalid"


def test_quarantined_opt_out_suppresses_keys() -> None:
    # Row 1 failed the e-mail check and keeps only its phone and external id.
    # Row 2 failed another gate. Row 3 is quarantined without an opt-out.
    batch = _batch(
        email_key=[None, "b@x.com", "c@x.com"],
        phone_e164=["+4930111", None, None],
        external_key=["ext:generic:A-1", None, None],
        do_not_email=["yes", None, "no"],
        status=[None, "Unsubscribed", None],
        consent_share="yes",
        outcome="quarantined",
        rule=["email_syntax", "country_invalid", "country_invalid"],
        reason=["bad e-mail", "bad country", "bad country"],
    )
    out, entries = apply_consent(batch, set(), now=NOW)

    assert out["outcome"].tolist() == ["quarantined"] * 3
    assert out["rule"].tolist() == [
        "email_syntax",
        "country_invalid",
        "country_invalid",
    ]
    assert out.loc[0, "reason"].startswith("bad e-mail; the row also opts out, and ")
    assert "that was applied" in out.loc[1, "reason"]
    assert out.loc[2, "reason"] == "bad country"
    assert sorted((entry.kind, entry.key) for entry in entries) == [
        ("email", "b@x.com"),
        ("external_id", "ext:generic:A-1"),
        ("phone", "+4930111"),
    ]


def test_opt_out_address_in_invalid_email() -> None:
    batch = _batch(
        email=["Anna <anna@x.com", "no address", "bo@x.de."],
        email_key=[None, None, None],
        status=["unsubscribed", "unsubscribed", "unsubscribed"],
        outcome="quarantined",
        rule="email_syntax",
        reason="bad e-mail",
    )
    out, entries = apply_consent(batch, set(), now=NOW)

    assert [(entry.kind, entry.key) for entry in entries] == [
        ("email", "anna@x.com"),
        ("email", "bo@x.de"),
    ]
    assert "and that was applied" in out.loc[0, "reason"]
    assert "contains no valid e-mail" in out.loc[1, "reason"]


def test_quarantined_opt_out_without_keys_says_so() -> None:
    batch = _batch(
        email_key=[None],
        do_not_email=["yes"],
        outcome=["quarantined"],
        rule=["email_invalid"],
        reason=["invalid e-mail"],
    )
    out, entries = apply_consent(batch, set(), now=NOW)

    assert entries == []
    assert "contains no valid e-mail, phone or external id" in out.loc[0, "reason"]


def test_malformed_record_opt_out_suppresses_address() -> None:
    records = [
        "X-1,Anna <anna@x.com>,Acme, Inc,unsubscribed,",
        '{"email": "bo@x.com", "status": "opted-out", "email": "bo@x.com"}',
        "X-3,cy@x.com,Acme, Inc,yes,no,new",
        "X-4,dee@x.com,Acme, Inc,no,no,new",
        "X-5,eve@x.com,line one\nunsubscribed,fay@x.com,yes",
    ]
    batch = _batch(
        email_key=[None] * 5,
        # intake reads a yes in the shifted do_not_email column of row 3
        do_not_email=[None, None, "yes", None, None],
        consent_share=None,
        outcome="quarantined",
        rule="malformed_row",
        reason="line: expected 5 fields",
        _record=records,
    )
    out, entries = apply_consent(batch, set(), now=NOW)

    assert sorted(entry.key for entry in entries) == [
        "anna@x.com",
        "bo@x.com",
        "cy@x.com",
        "fay@x.com",
    ]
    assert out["outcome"].tolist() == ["quarantined"] * 5
    assert "the e-mail addresses in its text" in out.loc[0, "reason"]
    assert out.loc[3, "reason"] == "line: expected 5 fields"


def test_malformed_record_address_blocks_batch_row() -> None:
    batch = _batch(
        email_key=[None, "anna@x.com"],
        consent_share=[None, "yes"],
        outcome=["quarantined", None],
        _record=["X-1,anna@x.com,Acme, Inc,opted out", None],
    )
    out, _ = apply_consent(batch, set(), now=NOW)

    assert out.loc[1, "outcome"] == "suppressed"
    assert out.loc[1, "rule"] == "suppression_list"


@pytest.mark.parametrize(
    ("line", "opts_out"),
    [
        ("X-1,a@x.com,Unsubscribed,", True),
        ("X-1,a@x.com,opted-out", True),
        ("X-1,a@x.com,Opt Out", True),
        ('{"do_not_email": "yes", "email": "a@x.com"}', True),
        ('{"do_not_email": 1.0, "email": "a@x.com"}', True),
        ('{"unsubscribed_at": "2026-01-02", "email": "a@x.com"}', True),
        ("note: Do not e-mail: yes", True),
        ('{"do_not_email": "no", "email": "a@x.com"}', False),
        ('{"opt_out": "no", "unsubscribed_at": "", "email": "a@x.com"}', False),
        ("X-1,a@x.com,Acme, Inc,yes,no,new", False),
    ],
)
def test_record_line_opt_out_words(line: str, opts_out: bool) -> None:
    assert record_text.line_opts_out(line) is opts_out


def test_record_email_keys_valid_only() -> None:
    text = "Anna <Anna+news@X.com>,mailto:bo@x.com,x@y,not@valid@z.com"

    assert record_text.email_keys_in(text) == ["anna@x.com", "bo@x.com"]


def test_naive_time_rejected() -> None:
    batch = _batch(email_key=["a@x.com"])

    with pytest.raises(ValueError, match="timezone-aware"):
        apply_consent(batch, set(), now=dt.datetime(2026, 1, 1))  # noqa: DTZ001


# Properties


@given(token=st.sampled_from(sorted(TRUE_TOKENS | FALSE_TOKENS)), data=st.data())
def test_flag_any_letter_case(token: str, data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=len(token), max_size=len(token)))
    letters = zip(token, flips, strict=True)
    mixed = "".join(char.upper() if flip else char for char, flip in letters)

    assert parse_flag(mixed) == (token in TRUE_TOKENS, None)


def test_duplicates_of_quarantined_row_wait() -> None:
    batch = _batch(
        lead_id=["L-1", "L-2", "L-3", "L-4"],
        email_key=["q@x.com", "q@x.com", "r@x.com", "r@x.com"],
        do_not_call=["maybe", "no", "no", "no"],
        consent_share="yes",
        outcome=[None, "duplicate", None, "duplicate"],
        duplicate_of=[None, "L-1", None, "L-3"],
    )

    out, _ = apply_consent(batch, set(), now=NOW)

    assert out["outcome"].tolist() == [
        "quarantined",
        "quarantined",
        None,
        "duplicate",
    ]
    assert out.loc[1, "rule"] == "duplicate_of_quarantined"
    assert out.loc[1, "reason"] == (
        "same person as row 1 of this file, which was quarantined "
        "(dnc_unknown_token); fix that row, then import both rows again"
    )


@pytest.mark.parametrize(
    "value", ["Unsubscribed", "Yes, unsubscribed", "opted out", "Do not email"]
)
def test_do_not_email_opt_out_words(value) -> None:
    batch = _batch(email_key=["a@x.com"], do_not_email=[value], consent_share="yes")

    out, entries = apply_consent(batch, set(), now=NOW)

    assert out.loc[0, "rule"] == "opted_out"
    assert out.loc[0, "reason"] == f"opted out: do_not_email is {value}"
    assert [entry.key for entry in entries] == ["a@x.com"]


@pytest.mark.parametrize("value", ["Oui", "No, not opted out"])
def test_do_not_email_unknown_value_flagged(value) -> None:
    batch = _batch(email_key=["a@x.com"], do_not_email=[value], consent_share="yes")

    out, _ = apply_consent(batch, set(), now=NOW)

    assert out.loc[0, "rule"] == "dnc_unknown_token"


def test_unknown_value_in_duplicate_quarantined() -> None:
    batch = _batch(
        lead_id=["L-1", "L-2", "L-3", "L-4", "L-5", "L-6"],
        email_key=["q@x.com", "q@x.com", "q@x.com", "r@x.com", "r@x.com", "s@x.com"],
        do_not_email=["no", "unklar", "no", "no", "no", "no"],
        consent_share=["yes", "yes", "yes", "yes", "vielleicht", "unsure"],
        outcome=[None, "duplicate", "duplicate", None, "duplicate", "duplicate"],
        duplicate_of=[None, "L-1", "L-1", None, "L-4", "L-0"],
        duplicate_held=[False, False, False, False, False, True],
    )

    out, entries = apply_consent(batch, set(), now=NOW)

    assert out["rule"].tolist() == [
        "duplicate_quarantined",
        "dnc_unknown_token",
        "duplicate_of_quarantined",
        "duplicate_quarantined",
        "consent_unknown_token",
        "consent_unknown_token",
    ]
    assert set(out["outcome"]) == {"quarantined"}
    assert out.loc[0, "reason"] == (
        "row 2 of this file is the same person and was quarantined "
        "(dnc_unknown_token); fix that row, then import both rows again"
    )
    assert out.loc[1, "reason"].startswith("do_not_email: ")
    assert entries == []


def test_known_values_in_duplicate_keep_it() -> None:
    batch = _batch(
        lead_id=["L-1", "L-2"],
        email_key=["q@x.com", "q@x.com"],
        do_not_email=["no", "false"],
        consent_share=["yes", "Yes"],
        outcome=[None, "duplicate"],
        duplicate_of=[None, "L-1"],
    )

    out, _ = apply_consent(batch, set(), now=NOW)

    assert out["outcome"].tolist() == [None, "duplicate"]
