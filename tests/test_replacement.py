"""Corrected re-imports of held leads, on batch frames without a store."""

from __future__ import annotations

import pandas as pd

from leadshare.replacement import (
    changed_fields,
    comparable_text,
    plan_replacements,
    replacement_reasons,
)


def _stored(**leads: dict) -> pd.DataFrame:
    """Return stored lead data: ``lead_id=values``; fields not given are NULL."""
    rows = [{"lead_id": lead_id, **values} for lead_id, values in leads.items()]
    frame = pd.DataFrame(rows)
    for column in ("email_key", "country", "region", "city"):
        if column not in frame.columns:
            frame[column] = None
    return frame


def _batch(**columns: list) -> pd.DataFrame:
    size = len(next(iter(columns.values())))
    frame = pd.DataFrame(columns)
    frame["_row"] = range(1, size + 1)
    frame["lead_id"] = [f"L-{row}" for row in frame["_row"]]
    for column in ("rule", "reason"):
        if column not in frame.columns:
            frame[column] = None
    return frame


def test_comparable_text_whitespace_and_blank():
    values = pd.Series([" New  York ", "", None, "Paris"], dtype=object)

    result = comparable_text(values)

    assert result.tolist()[0] == "New York"
    assert result.isna().tolist() == [False, True, True, False]


def test_changed_fields_named_in_order():
    rows = pd.DataFrame(
        {
            "email_key": ["ann@x.example", "bob@x.example"],
            "country_code": ["US", "DE"],
            "region": ["CA", None],
            "city": ["Fresno ", None],
        }
    )
    stored = _stored(
        a={
            "email_key": "ann@x.example",
            "country": "DE",
            "region": "Bayern",
            "city": "Fresno",
        },
        b={"email_key": "bob@x.example", "country": "DE", "region": "", "city": None},
    )

    changes = changed_fields(rows, stored)

    assert changes.tolist() == ["country, region", ""]


def test_first_changed_row_replaces():
    frame = _batch(
        email_key=["ann@x.example", "ann@x.example", "bob@x.example"],
        country_code=["US", "US", "DE"],
        outcome=["duplicate", "duplicate", "duplicate"],
        duplicate_of=["L-ANN", "L-ANN", "L-BOB"],
        rule=["same email key"] * 3,
    )
    stored = _stored(
        **{
            "L-ANN": {"email_key": "ann@x.example", "country": "DE"},
            "L-BOB": {"email_key": "bob@x.example", "country": "DE"},
        }
    )
    opted_out = pd.Series(False, index=frame.index)

    replacing = plan_replacements(frame, stored, opted_out)

    assert replacing["lead_id"].tolist() == ["L-1"]
    assert frame.loc[0, "replaces"] == "L-ANN"
    assert frame.loc[0, "changed_fields"] == "country"
    assert frame.loc[0, "outcome"] is None
    assert frame.loc[0, "duplicate_of"] is None
    # The second correction repeats the row that replaced the held lead.
    assert frame.loc[1, "outcome"] == "duplicate"
    assert frame.loc[1, "duplicate_of"] == "L-1"
    assert "which replaced L-ANN" in frame.loc[1, "reason"]
    # The same data as the held lead: still a duplicate of it.
    assert frame.loc[2, "outcome"] == "duplicate"
    assert frame.loc[2, "duplicate_of"] == "L-BOB"
    assert frame.loc[2, "replaces"] is None


def test_unreplaceable_lead_untouched():
    # L-SENT is not among the stored leads: it was shared, so it is never replaced.
    frame = _batch(
        email_key=["ann@x.example"],
        country_code=["US"],
        outcome=["duplicate"],
        duplicate_of=["L-SENT"],
    )
    stored = _stored(**{"L-OTHER": {"email_key": "o@x.example", "country": "DE"}})

    replacing = plan_replacements(frame, stored, pd.Series(False, index=frame.index))

    assert replacing.empty
    assert frame.loc[0, "outcome"] == "duplicate"
    assert frame.loc[0, "duplicate_of"] == "L-SENT"


def test_opted_out_row_never_replaces():
    frame = _batch(
        email_key=["ann@x.example"],
        country_code=["US"],
        outcome=["duplicate"],
        duplicate_of=["L-ANN"],
    )
    stored = _stored(**{"L-ANN": {"email_key": "ann@x.example", "country": "DE"}})

    replacing = plan_replacements(frame, stored, pd.Series(True, index=frame.index))

    assert replacing.empty
    assert frame.loc[0, "duplicate_of"] == "L-ANN"


def test_replacement_reason_names_file_and_row():
    replacing = pd.DataFrame(
        {
            "lead_id": ["L-NEW"],
            "replaces": ["L-OLD"],
            "changed_fields": ["country, region"],
            "_row": [7],
        }
    )

    rows = replacement_reasons(replacing, "fixed.csv")

    assert rows.to_dict("records") == [
        {
            "lead_id": "L-NEW",
            "replaces": "L-OLD",
            "reason": "replaced by L-NEW from fixed.csv row 7 "
            "(changed: country, region)",
        }
    ]


def test_blank_field_is_no_change():
    # The second source has no region column and leaves the city empty.
    rows = pd.DataFrame({"email_key": ["ann@x.example"], "city": ["  "]})
    stored = _stored(
        a={"email_key": "ann@x.example", "region": "Bayern", "city": "Fürth"}
    )

    changes = changed_fields(rows, stored)

    assert changes.tolist() == [""]


def test_replacing_row_keeps_held_values_it_lacks():
    frame = _batch(
        email_key=["ann@x.example"],
        country_code=["DE"],
        region=["Bayern"],
        outcome=["duplicate"],
        duplicate_of=["L-ANN"],
    )
    frame["industry"] = pd.array([None], dtype="string[pyarrow]")
    stored = _stored(
        **{
            "L-ANN": {
                "email_key": "ann@x.example",
                "country": "DE",
                "region": "Hessen",
                "industry": "Software",
                "consent_share": "yes",
            }
        }
    )

    replacing = plan_replacements(frame, stored, pd.Series(False, index=frame.index))

    assert replacing["lead_id"].tolist() == ["L-1"]
    assert frame.loc[0, "changed_fields"] == "region"
    # Blank in the new row, so taken from the lead it replaces.
    assert frame.loc[0, "industry"] == "Software"
    assert frame.loc[0, "consent_share"] == "yes"
    # Given in the new row, so kept.
    assert frame.loc[0, "region"] == "Bayern"
    assert frame["industry"].dtype == "string[pyarrow]"


def test_unchanged_rows_replace_nothing():
    frame = _batch(
        email_key=["ann@x.example"],
        country_code=["DE"],
        outcome=["duplicate"],
        duplicate_of=["L-ANN"],
    )
    stored = _stored(**{"L-ANN": {"email_key": "ann@x.example", "country": "DE"}})

    replacing = plan_replacements(frame, stored, pd.Series(False, index=frame.index))

    assert replacing.empty
    assert frame.loc[0, "outcome"] == "duplicate"
    assert frame.loc[0, "duplicate_of"] == "L-ANN"


def test_replacing_row_inherits_do_not_call():
    frame = _batch(
        email_key=["ann@x.example"],
        country_code=["DE"],
        outcome=["duplicate"],
        duplicate_of=["L-ANN"],
    )
    stored = _stored(
        **{
            "L-ANN": {
                "email_key": "ann@x.example",
                "country": None,
                "do_not_call": True,
            }
        }
    )

    replacing = plan_replacements(frame, stored, pd.Series(False, index=frame.index))

    assert replacing["lead_id"].tolist() == ["L-1"]
    assert frame["held_do_not_call"].tolist() == [True]


def test_replacing_row_takes_blank_groups_whole():
    # The correction gives only the e-mail and a new country: the held name,
    # company and phone come along as whole groups.
    frame = _batch(
        email=["ann@x.example"],
        email_key=["ann@x.example"],
        first_name=[None],
        last_name=[None],
        name_key=[None],
        company=["  "],
        company_key=[None],
        phone=[None],
        phone_e164=[None],
        country_code=["DE"],
        outcome=["duplicate"],
        duplicate_of=["L-ANN"],
    )
    stored = _stored(
        **{
            "L-ANN": {
                "email": "ann@x.example",
                "email_key": "ann@x.example",
                "first_name": "Ann",
                "last_name": "Lee",
                "name_key": "ann lee",
                "company": "Acme GmbH",
                "company_key": "acme",
                "phone": "030 123",
                "phone_e164": "+4930123",
                "country": None,
            }
        }
    )

    replacing = plan_replacements(frame, stored, pd.Series(False, index=frame.index))

    assert replacing["lead_id"].tolist() == ["L-1"]
    assert frame.loc[0, "changed_fields"] == "country"
    row = frame.loc[0]
    names = (row["first_name"], row["last_name"], row["name_key"])
    assert names == ("Ann", "Lee", "ann lee")
    assert (row["company"], row["company_key"]) == ("Acme GmbH", "acme")
    assert (row["phone"], row["phone_e164"]) == ("030 123", "+4930123")
    assert row["country_code"] == "DE"
