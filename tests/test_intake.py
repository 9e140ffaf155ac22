"""Intake: reading lead files safely and mapping them with a profile."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadshare.config import Profile
from leadshare.errors import GateError, IntakeError
from leadshare.intake import (
    PROBLEM_COLUMN,
    QUOTE_FIX,
    RAGGED_FIX,
    UTF8_BOM,
    _clean_arrow,
    _clean_values,
    _misplaced_quote_reason,
    _tidy_spaces,
    apply_profile,
    read_lead_file,
)
from leadshare.model import LEAD_FIELDS, RECORD_COLUMN, ROW_COLUMN


def _write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def _expected(shared_dir: Path, case: str) -> dict:
    return json.loads(
        (shared_dir / "cases" / case / "expected.json").read_text("utf-8")
    )


def _rows_are_complete(frame: pd.DataFrame, rows: int) -> bool:
    return frame[ROW_COLUMN].tolist() == list(range(1, rows + 1))


# Acceptance cases


def test_bom_not_in_header(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B03")
    with_bom = read_lead_file(shared_dir / "cases/B03/contacts_bom.csv")
    without_bom = read_lead_file(shared_dir / "cases/B03/contacts_no_bom.csv")

    assert with_bom.header == expected["headers"]
    assert without_bom.header == expected["headers"]
    assert with_bom.encoding == "utf-8-sig"
    assert with_bom.rows == expected["rows_accepted"]
    assert with_bom.frame.loc[0, "email"] == expected["email"]
    pd.testing.assert_frame_equal(with_bom.frame, without_bom.frame)


def test_semicolon_european_numbers(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B04")
    batch = read_lead_file(shared_dir / "cases/B04/leads_semicolon.csv")

    assert batch.delimiter == expected["delimiter"]
    assert len(batch.header) == expected["column_count"]
    assert batch.header == expected["headers"]
    assert batch.rows == expected["valid_leads"]
    assert batch.frame[PROBLEM_COLUMN].isna().all()
    revenue = dict(
        zip(batch.frame["Email"], batch.frame["Annual revenue"], strict=True)
    )
    assert revenue == expected["annual_revenue_if_kept_as_text"]


@pytest.mark.parametrize("name", ["leads_cp1252.csv", "leads_utf8.csv"])
def test_accented_names_exact(shared_dir: Path, name: str) -> None:
    expected = _expected(shared_dir, "B05")
    case = expected[name]
    batch = read_lead_file(shared_dir / "cases/B05" / name)
    stored = case.get("stored") or case["allowed_outcomes"]["import_exact"]["stored"]
    columns = list(stored[0])

    assert batch.encoding == case["encoding"]
    assert batch.rows == len(stored)
    assert batch.frame[columns].to_dict("records") == stored
    values = set(batch.frame[columns].to_numpy().ravel())
    for forbidden in expected["forbidden_stored_values"]:
        assert forbidden not in values


def test_leading_zeros_kept(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B18")
    batch = read_lead_file(shared_dir / "cases/B18/leads.csv")
    frame = batch.frame.set_index("lead_id")

    assert batch.rows == expected["rows_read"]
    assert frame["postcode"].to_dict() == expected["postcode"]
    assert frame["partner_code"].to_dict() == expected["partner_code"]
    lookup = expected["lookup"]
    found = frame.index[frame["partner_code"] == lookup["partner_code"]].tolist()
    assert found == [lookup["finds_lead_id"]]


def test_quoted_carriage_return_kept(shared_dir: Path) -> None:
    expected = _expected(shared_dir, "B23")
    batch = read_lead_file(shared_dir / "cases/B23/leads.csv")
    frame = batch.frame.set_index("lead_id")

    assert batch.rows == expected["rows_out"]
    assert frame.loc["L-5105", "company"] == "\r=1+2 cr"
    assert frame.loc["L-5104", "notes"] == "\t=1+2 tabbed"
    assert frame.loc["L-5103", "score_delta"] == "-3"


# Real exports


def _xeducation(shared_dir: Path) -> Path:
    return shared_dir / "data/xeducation-leads"


def test_xeducation_counts(shared_dir: Path) -> None:
    batch = read_lead_file(_xeducation(shared_dir) / "Leads.csv")
    frame = batch.frame

    assert batch.rows == 9240
    assert len(batch.header) == 37
    assert _rows_are_complete(frame, 9240)
    assert frame[PROBLEM_COLUMN].isna().all()
    assert frame["Converted"].value_counts().to_dict() == {"0": 5679, "1": 3561}
    assert int((frame["Do Not Email"] == "Yes").sum()) == 734
    assert int((frame["Do Not Call"] == "Yes").sum()) == 2
    assert frame["Prospect ID"].is_unique
    assert not frame["Last Notable Activity"].str.endswith("\r").any()


def test_variant_missing_rows(shared_dir: Path) -> None:
    folder = _xeducation(shared_dir)
    base = read_lead_file(folder / "Leads.csv").frame
    batch = read_lead_file(folder / "variants/Leads_9237rows_crlf.csv")
    missing = {"646334", "646330", "646329"}

    assert batch.rows == 9237
    assert _rows_are_complete(batch.frame, 9237)
    assert set(base["Lead Number"]) - set(batch.frame["Lead Number"]) == missing
    kept = base[~base["Lead Number"].isin(missing)].drop(columns=ROW_COLUMN)
    assert kept.to_numpy().tolist() == (
        batch.frame.drop(columns=ROW_COLUMN).to_numpy().tolist()
    )


@pytest.mark.parametrize(
    "name",
    [
        "Leads_renamed_header_lf.csv",
        "Leads_trailing_empty_column.csv",
        "Leads_whole_row_quoted.csv",
    ],
)
def test_variant_same_cells(shared_dir: Path, name: str) -> None:
    folder = _xeducation(shared_dir)
    base = read_lead_file(folder / "Leads.csv").frame
    batch = read_lead_file(folder / "variants" / name)

    assert batch.rows == 9240
    assert len(batch.header) == 37
    assert batch.frame[PROBLEM_COLUMN].isna().all()
    assert batch.frame.to_numpy().tolist() == base.to_numpy().tolist()


def test_variant_notes(shared_dir: Path) -> None:
    folder = _xeducation(shared_dir) / "variants"
    renamed = read_lead_file(folder / "Leads_renamed_header_lf.csv")
    trailing = read_lead_file(folder / "Leads_trailing_empty_column.csv")
    quoted = read_lead_file(folder / "Leads_whole_row_quoted.csv")

    assert "current occupation" in renamed.header
    assert renamed.notes == []
    assert trailing.notes == [
        "dropped column 38: no header name and empty on every row"
    ]
    assert len(quoted.notes) == 1
    assert quoted.notes[0].startswith("unwrapped 338 rows")


def test_datablist_counts(shared_dir: Path) -> None:
    batch = read_lead_file(shared_dir / "data/datablist-leads/leads-10000.csv")

    assert batch.rows == 10000
    assert len(batch.header) == 14
    assert _rows_are_complete(batch.frame, 10000)
    assert batch.frame["Account Id"].is_unique
    assert batch.frame[PROBLEM_COLUMN].isna().all()


# Whole-file rejections


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b" \r\n\n", "empty"),
        (b"email,name\r\n", "no data rows"),
        (b"email,name\ra@example.com,Ann\rb@example.com,Bob\r", "carriage return"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
        (b"\x1f\x8b\x08\x00\xaa\x17\x14k\x02\xff\xcd", "gzip-compressed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("email,name\n".encode("utf-16"), "UTF-16"),
        (b"email,Email\na@example.com,b@example.com\n", "duplicate column name"),
        (b"email,,name\na,b,c\n", "column 2 of 3 has no header name"),
        (b"email,_row\na,1\n", "reserved"),
        (b"email,_Record\na,1\n", "reserved"),
        (b'email,name\n"a@example.com,Ann\n', "never closed"),
        (b"email,name\na,b,\nc,d,x\n", "fields"),
    ],
)
def test_file_rejected(tmp_path: Path, content: bytes, words: str) -> None:
    path = _write(tmp_path, "leads.csv", content)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert words in caught.value.reason
    assert str(path) in str(caught.value)


def test_stray_quote_line_named(tmp_path: Path) -> None:
    content = (
        'email,name,height\n"a@example.com","Ann, Smith",170\n'
        "b@example.com,Bob,5'10\"\n"
        'c@example.com,"Cy",180\n"d@example.com",Di,160\n'
    )
    path = _write(tmp_path, "leads.csv", content)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)
    assert caught.value.line == 3
    assert "still open at the end of the file starts on this line" in str(
        caught.value
    )
    assert "look for a stray quote from line" not in str(caught.value)


def test_cut_quoted_value_line_named(tmp_path: Path) -> None:
    # Row 3 has a correct two-line value (lines 4 and 5, one quote on each), and
    # the last record, from line 7, is cut inside its quoted note.
    content = (
        "email,notes\na@x.example,plain\nb@x.example,plain\n"
        'c@x.example,"call back\nafter lunch"\nd@x.example,plain\n'
        'e@x.example,"first line\nsecond'
    )
    path = _write(tmp_path, "leads.csv", content)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert caught.value.line == 7
    assert str(caught.value).startswith(f"{path}, line 7: a quoted value is never")
    assert "look for a stray quote from line 4, the first line" in str(caught.value)
    assert "Export or download the file again if it was cut" in str(caught.value)


def test_lone_carriage_return_line_named(tmp_path: Path) -> None:
    content = b"email,name\na@example.com,Ann\nb@example.com,Bo\rb\nc@example.com,Cy\n"
    path = _write(tmp_path, "leads.csv", content)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)
    assert caught.value.line == 3
    assert "carriage return without a line feed" in caught.value.reason


def test_wrong_delimiter_rejected(tmp_path: Path) -> None:
    rows = "".join(f"p{i}@example.com;Name {i};DE\n" for i in range(20))
    path = _write(tmp_path, "leads.csv", "email,name,country\n" + rows)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert (
        "comma: header 3 fields, 0% of the first 20 rows match" in caught.value.reason
    )
    assert caught.value.line == 1
    assert "delimiter" in caught.value.fix


def test_single_column_header_rejected(tmp_path: Path) -> None:
    rows = "".join(f"p{i}@example.com;Name {i}\n" for i in range(5))
    path = _write(tmp_path, "leads.csv", "email\n" + rows)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert "single column" in caught.value.reason
    assert "semicolon" in caught.value.reason


def test_undecodable_bytes_rejected(tmp_path: Path) -> None:
    # 0x81 is invalid UTF-8 here and undefined in Windows-1252.
    path = _write(tmp_path, "leads.csv", b"email,name\na@example.com,Fran\x81ois\n")

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert caught.value.line == 2
    assert "encoding" in caught.value.reason
    assert "0x81" in caught.value.reason
    assert "UTF-8" in caught.value.fix


def test_bom_with_bad_utf8_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "leads.csv", b"\xef\xbb\xbfemail\na\xe7b\n")

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert "0xE7" in caught.value.reason
    assert caught.value.line == 2


def test_stray_quote_pair_rejected(tmp_path: Path) -> None:
    content = 'email,name\na@example.com,x"y\nb@example.com,z\nc@example.com,w"v\nd,e\n'
    path = _write(tmp_path, "leads.csv", content)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert caught.value.line == 2
    assert caught.value.reason.startswith(
        "field 2 (name) contains a quote character but is not quoted"
    )
    assert "The rows on lines 2 to 4 would be read as one record" in (
        caught.value.reason
    )
    assert "double the quote" in caught.value.fix


def test_filled_unnamed_column_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "leads.csv", "email,name,\na,b,\nc,d,oops\n")

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert "no header name but contains values on 1 rows" in caught.value.reason
    assert "data row 2" in caught.value.reason


# Records and rows


def test_mixed_encoding_rejected(tmp_path: Path) -> None:
    utf8_rows = "email,first_name\nzoe@example.com,Zoë\n".encode()
    cp1252_row = "jerome@example.com,Jérôme\n".encode("cp1252")
    path = tmp_path / "mixed.csv"
    path.write_bytes(utf8_rows + cp1252_row)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)
    assert caught.value.line == 3
    assert "mixes encodings" in caught.value.reason
    assert "Line 2 is UTF-8" in caught.value.reason
    assert "0xE9" in caught.value.reason


def test_cp1252_detected(tmp_path: Path) -> None:
    content = "email;city\nfrancois@example.com;Besançon\n".encode("cp1252")
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.encoding == "cp1252"
    assert batch.delimiter == ";"
    assert batch.frame.loc[0, "city"] == "Besançon"


def test_tab_delimiter(tmp_path: Path) -> None:
    batch = read_lead_file(_write(tmp_path, "leads.tsv", "email\tname\na@x.io\tAnn\n"))

    assert batch.delimiter == "\t"
    assert batch.frame.loc[0, "name"] == "Ann"


def test_single_column_file(tmp_path: Path) -> None:
    batch = read_lead_file(_write(tmp_path, "leads.csv", "email\na@x.io\nb@x.io"))

    assert batch.header == ["email"]
    assert batch.frame["email"].tolist() == ["a@x.io", "b@x.io"]


def test_no_final_newline(tmp_path: Path) -> None:
    batch = read_lead_file(_write(tmp_path, "leads.csv", "a,b\r\n1,2\r\n3,4"))

    assert batch.rows == 2
    assert batch.frame[["a", "b"]].to_numpy().tolist() == [["1", "2"], ["3", "4"]]


def test_blank_lines_skipped(tmp_path: Path) -> None:
    batch = read_lead_file(_write(tmp_path, "leads.csv", "\na,b\n1,2\n\n  \r\n3,4\n\n"))

    assert batch.rows == 2
    assert batch.frame["a"].tolist() == ["1", "3"]
    assert _rows_are_complete(batch.frame, 2)


def test_quoted_newline_one_row(tmp_path: Path) -> None:
    content = 'email,notes\na@x.io,"line one\nline ""two"", end"\nb@x.io,ok\n'
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.rows == 2
    assert batch.frame.loc[0, "notes"] == 'line one\nline "two", end'
    assert batch.frame.loc[1, "email"] == "b@x.io"


def test_ragged_rows_become_problems(tmp_path: Path) -> None:
    content = (
        "email,name,country\n"
        "a@x.io,Ann,DE\n"
        "b@x.io,Bob\n"
        "c@x.io,Cy,FR,extra\n"
        '"d@x.io,Dee,""NL, South"",x"\n'
        "e@x.io,Eve,GB,\n"
        "f@x.io,Fay,US\n"
        "g@x.io,Gil,US\n"
        "h@x.io,Hal,US\n"
        "i@x.io,Ida,US\n"
    )
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))
    problems = batch.frame[PROBLEM_COLUMN].tolist()

    assert batch.rows == 9
    assert _rows_are_complete(batch.frame, 9)
    assert problems[0] is None
    assert problems[1] == "line 3: expected 3 fields, got 2" + RAGGED_FIX
    assert problems[2] == "line 4: expected 3 fields, got 4" + RAGGED_FIX
    assert problems[3] == (
        "line 5: expected 3 fields, got 1; the whole line is wrapped in quotes"
        + RAGGED_FIX
    )
    assert problems[4] == (
        "line 6: expected 3 fields, got 4; the line ends with an extra delimiter"
        + RAGGED_FIX
    )
    assert problems[5:] == [None] * 4
    assert batch.frame.loc[1, "email"] is None
    assert batch.frame.loc[5, "email"] == "f@x.io"


def test_wrapped_row_unwrapped(tmp_path: Path) -> None:
    content = 'email,name,country\n"a@x.io,""Doe, Ann"",DE"\nb@x.io,Bob,FR\n'
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.frame[PROBLEM_COLUMN].isna().all()
    assert batch.frame.loc[0, "name"] == "Doe, Ann"
    assert batch.frame.loc[0, "country"] == "DE"
    assert batch.notes[0].startswith("unwrapped 1 rows")


def test_sha256_of_bytes(tmp_path: Path) -> None:
    path = _write(tmp_path, "leads.csv", "a,b\n1,2\n")
    batch = read_lead_file(path)

    assert batch.sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


# JSON Lines


def test_jsonl_rows_and_problems(tmp_path: Path) -> None:
    lines = [
        '{"email": "a@x.io", "postcode": "02134", "size": 50, "vip": true}',
        "",
        '["not", "an", "object"]',
        '{"email": "b@x.io", "address": {"city": "Köln"}}',
        "{broken",
        '{"email": "c@x.io", "revenue": 1.50, "note": null}',
    ]
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    frame = batch.frame
    problems = frame[PROBLEM_COLUMN].tolist()

    assert batch.delimiter is None
    assert batch.rows == 5
    assert _rows_are_complete(frame, 5)
    assert batch.header == ["email", "postcode", "size", "vip", "revenue", "note"]
    assert frame.loc[0, "postcode"] == "02134"
    assert frame.loc[0, "size"] == "50"
    assert frame.loc[0, "vip"] == "true"
    assert frame.loc[4, "revenue"] == "1.50"
    assert frame.loc[4, "note"] is None
    assert problems[0] is None
    assert problems[1] == (
        "line 3: expected a JSON object, got a JSON array; write one object per line"
    )
    assert problems[2] == "line 4: field 'address' holds a nested value; flatten it"
    assert problems[3].startswith("line 5: invalid JSON")
    assert problems[4] is None


def test_jsonl_key_spelling_per_line(tmp_path: Path) -> None:
    lines = [
        '{"email": "a@x.io", "first_name": "Ann"}',
        '{"Email": "b@x.io", " First_Name": "Bob"}',
        '{"email": "c@x.io", "EMAIL": "d@x.io"}',
        '{"email": "e@x.io", "_row": "7"}',
    ]
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    frame = batch.frame
    problems = frame[PROBLEM_COLUMN].tolist()

    assert batch.rows == 4
    assert batch.header == ["email", "first_name"]
    assert frame.loc[1, "email"] == "b@x.io"
    assert frame.loc[1, "first_name"] == "Bob"
    assert problems[:2] == [None, None]
    assert problems[2] == (
        "line 3: keys 'email' and 'EMAIL' name the same field (ignoring spaces and "
        "letter case); keep one"
    )
    assert problems[3] == "line 4: key '_row' is reserved; rename it"


def test_json_array_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "leads.ndjson", '[\n{"email": "a@x.io"}\n]\n')

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert "JSON array" in caught.value.reason
    assert caught.value.line == 1


def test_pretty_json_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "leads.jsonl", '{\n  "email": "a@x.io"\n}\n')

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert "none of the 3 lines is a JSON object" in caught.value.reason


# Profiles


def _profile(**overrides: object) -> Profile:
    settings: dict = {
        "name": "test",
        "columns": {
            "email": ["E-mail", "Email Address"],
            "company": "Company",
            "do_not_email": "Opt Out",
        },
        "values": {"do_not_email": {"Y": "yes", "N": "no"}},
        "defaults": {"country": "DE", "company": "(unknown)"},
        "required_columns": ["email"],
    }
    settings.update(overrides)
    return Profile.model_validate(settings)


def _values(column: pd.Series) -> list:
    """Return a mapped column's values with None for missing (None or NA)."""
    return column.to_numpy(dtype=object, na_value=None).tolist()


def test_profile_maps_fields(tmp_path: Path) -> None:
    content = (
        " email address ,COMPANY,Opt Out,Other\n"
        "a@x.io, Acme ,y,1\n"
        "  ,Select,N,2\n"
        "n/a,-,,3\n"
        "b@x.io,NULL,maybe,4\n"
    )
    raw = read_lead_file(_write(tmp_path, "leads.csv", content))
    frame = apply_profile(raw, _profile())

    assert list(frame.columns) == [*LEAD_FIELDS, ROW_COLUMN, PROBLEM_COLUMN]
    assert _values(frame["email"]) == ["a@x.io", None, None, "b@x.io"]
    # The file has a Company column, so its blanks are not filled by the default.
    assert _values(frame["company"]) == ["Acme", None, None, None]
    assert _values(frame["do_not_email"]) == ["yes", "no", None, "maybe"]
    assert _values(frame["country"]) == ["DE"] * 4
    assert frame["phone"].isna().all()
    assert frame[ROW_COLUMN].tolist() == [1, 2, 3, 4]


TIDY_PROFILE = {
    "columns": {
        "email": "Email",
        "first_name": "First",
        "company": "Company",
        "city": "City",
        "external_id": "Id",
        "notes": "Notes",
    }
}


@pytest.mark.parametrize("repeats", [1, 3], ids=["distinct", "repeated"])
def test_profile_tidies_spaces(tmp_path: Path, repeats: int) -> None:
    # Mostly distinct columns are tidied in Arrow, repeated ones per distinct value.
    row = (
        '" a@x.io ", Adam ,"Beispiel Z\nGmbH","Bad\u00a0 Tölz\t",'
        '" ID  7 ","First line\n\nsecond  line\n"\n'
    )
    content = "Email,First,Company,City,Id,Notes\n" + row * repeats
    raw = read_lead_file(_write(tmp_path, "leads.csv", content))
    frame = apply_profile(raw, _profile(**TIDY_PROFILE))

    assert _values(frame["email"]) == ["a@x.io"] * repeats
    assert _values(frame["first_name"]) == ["Adam"] * repeats
    assert _values(frame["company"]) == ["Beispiel Z GmbH"] * repeats
    assert _values(frame["city"]) == ["Bad Tölz"] * repeats
    assert _values(frame["external_id"]) == ["ID  7"] * repeats
    assert _values(frame["notes"]) == ["First line\n\nsecond  line"] * repeats


def test_profile_skips_defaults_on_problems(tmp_path: Path) -> None:
    raw = read_lead_file(_write(tmp_path, "leads.csv", "Email,Company\na@x.io\nb,c\n"))
    frame = apply_profile(
        raw, _profile(columns={"email": "Email", "company": "Company"})
    )

    assert (
        frame.loc[0, PROBLEM_COLUMN] == "line 2: expected 2 fields, got 1" + RAGGED_FIX
    )
    assert frame.loc[0, "country"] is None
    assert frame.loc[1, "country"] == "DE"


def test_malformed_records_keep_text(tmp_path: Path) -> None:
    content = "email,name,country\na@x.io,Ann,DE\nb@x.io,Bob, Jr,unsubscribed\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.frame.loc[0, RECORD_COLUMN] is None
    assert batch.frame.loc[1, RECORD_COLUMN] == "b@x.io,Bob, Jr,unsubscribed"


def test_jsonl_problem_line_kept(tmp_path: Path) -> None:
    line = '{"email": "a@x.io", "email": "b@x.io", "status": "unsubscribed"}'
    content = '{"email": "c@x.io"}\n' + line + "\n"
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", content))

    assert batch.frame[RECORD_COLUMN].tolist() == [None, line]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # an extra field before Opt Out: read from the right
        ("a@x.io,Acme, Inc,Y,note", "yes"),
        # an extra field after Opt Out: read from the left
        ("a@x.io,Acme,Y,note, more", "yes"),
        ("a@x.io,Acme, Inc,N,note", None),
        ("a@x.io,Acme, Inc,,note", None),
    ],
)
def test_shifted_opt_out_read(tmp_path: Path, line: str, expected: str | None) -> None:
    content = "Email,Company,Opt Out,Notes\nb@x.io,B,N,\n" + line + "\n"
    raw = read_lead_file(_write(tmp_path, "leads.csv", content))
    frame = apply_profile(
        raw, _profile(columns={"email": "Email", "do_not_email": "Opt Out"})
    )

    assert frame.loc[1, PROBLEM_COLUMN] is not None
    assert frame.loc[1, RECORD_COLUMN] == line
    assert frame.loc[1, "do_not_email"] == expected
    assert frame.loc[1, "email"] is None


def test_default_fills_only_absent_column(tmp_path: Path) -> None:
    content = "Email,Consent,Source\na@x.io,,\nb@x.io,Select,Select\nc@x.io,yes,web\n"
    raw = read_lead_file(_write(tmp_path, "leads.csv", content))
    mapped = _profile(
        columns={
            "email": "Email",
            "consent_share": "Consent",
            "consent_source": ["Source"],
        },
        defaults={"consent_source": "form", "company": "(unknown)"},
    )

    frame = apply_profile(raw, mapped)

    assert _values(frame["consent_share"]) == [None, None, "yes"]
    assert _values(frame["consent_source"]) == [None, None, "web"]
    assert _values(frame["company"]) == ["(unknown)"] * 3


def test_profile_missing_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "leads.csv", "Mail,Company\na@x.io,Acme\n")
    raw = read_lead_file(path)

    with pytest.raises(GateError) as caught:
        apply_profile(raw, _profile())

    message = str(caught.value)
    assert str(path) in message
    assert "missing required column for email" in message
    assert "['E-mail', 'Email Address']" in message
    assert "headers found: ['Mail', 'Company']" in message


def test_uniform_file_skips_field_counts(tmp_path, monkeypatch):
    from leadshare import intake

    def no_counting(*args):
        raise AssertionError("fields were counted for a file without ragged rows")

    monkeypatch.setattr(intake, "_field_counts", no_counting)
    path = _write(tmp_path, "clean.csv", 'email,name\n"a@x.com","A, B"\nb@x.com,C\n')
    batch = read_lead_file(path)
    assert batch.rows == 2
    assert batch.frame["name"].tolist() == ["A, B", "C"]
    assert batch.frame[ROW_COLUMN].tolist() == [1, 2]


def test_ragged_file_still_counted(tmp_path, monkeypatch):
    from leadshare import intake

    calls = []
    original = intake._field_counts
    monkeypatch.setattr(
        intake, "_field_counts", lambda *args: calls.append(1) or original(*args)
    )
    path = _write(tmp_path, "ragged.csv", "email,name\na@x.com,A\nb@x.com\n")
    batch = read_lead_file(path)
    assert calls == [1]
    assert batch.frame[PROBLEM_COLUMN].notna().tolist() == [False, True]


_CELLS = st.one_of(
    st.none(),
    st.sampled_from(["Select", " select ", "N/A", "", "  ", "Y", "y ", " N", "yes"]),
    st.text(alphabet="aBé -\n", max_size=6),
)


def _tidied(value: str | None, single_line: bool) -> str | None:
    """Tidy one value with Python's str methods, as intake should with Arrow."""
    if value is None:
        return None
    return " ".join(value.split()) if single_line else value.strip()


@settings(max_examples=200, deadline=None)
@given(st.lists(_CELLS, max_size=40), st.booleans())
def test_arrow_and_object_cleaning_agree(
    cells: list[str | None], single_line: bool
) -> None:
    # Mostly distinct columns are cleaned by Arrow, repeated ones per distinct
    # value in Python; a column must map the same whichever way it went.
    values = pa.array(cells, type=pa.string())
    placeholders = {"select", "n/a", ""}
    vocabulary = {"y": "yes", "n": "no"}
    by_arrow = _clean_arrow(values, placeholders, vocabulary, single_line)
    by_python = _clean_values(values, placeholders, vocabulary, single_line)
    assert _values(pd.Series(by_arrow)) == by_python.tolist()


_LONG_CELLS = st.text(
    alphabet="aBé -\u00a0\u3000\tİ\n\r\u2028", min_size=7, max_size=14
).map(lambda text: text.replace("aaaaaaa", " Select "))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_LONG_CELLS, min_size=8, max_size=40),
    st.lists(_CELLS, max_size=2),
    st.booleans(),
)
def test_arrow_cleaning_of_long_values_agrees(
    longs: list[str], shorts: list, single_line: bool
) -> None:
    # With few short values, Arrow folds only the values that can become a key.
    # Padded placeholders and Unicode spaces at the ends must still be found.
    values = pa.array(longs + shorts, type=pa.large_string())
    placeholders = {"select", "n/a", ""}
    vocabulary = {"y": "yes", "n": "no"}
    by_arrow = _clean_arrow(values, placeholders, vocabulary, single_line)
    by_python = _clean_values(values, placeholders, vocabulary, single_line)
    assert _values(pd.Series(by_arrow)) == by_python.tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=20), st.booleans())
def test_tidy_spaces_matches_str_split(
    cells: list[str | None], single_line: bool
) -> None:
    # Dedup keys fold text with str.split(), so intake must see the same spaces.
    values = pa.array(cells, type=pa.large_string())
    tidied = _tidy_spaces(values, single_line).to_pylist()
    assert tidied == [_tidied(cell, single_line) for cell in cells]


def test_jsonl_empty_key_is_row_problem(tmp_path: Path) -> None:
    lines = [
        '{"email": "a@x.io"}',
        '{"email": "b@x.io", "": "stray"}',
        '{"email": "c@x.io"}',
    ]
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    problems = batch.frame[PROBLEM_COLUMN].tolist()

    assert batch.rows == 3
    assert batch.header == ["email"]
    assert problems == [
        None,
        "line 2: a field has an empty name; name it or remove it",
        None,
    ]


def test_empty_jsonl_fix_names_json_lines(tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="one JSON object per line"):
        read_lead_file(_write(tmp_path, "leads.jsonl", "\n"))


@pytest.mark.parametrize("name", ["leads.csv", "leads.jsonl"])
@pytest.mark.parametrize("after", [b"", b"\n", b"\r\n", b" "])
def test_byte_order_mark_alone_is_empty(tmp_path: Path, name, after) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + after)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert "the file is empty" in str(caught.value)



def test_oversized_csv_field_named(tmp_path: Path, monkeypatch) -> None:
    import csv

    from leadshare import intake

    # The test lowers the limit to 1,000 characters so the file stays small.
    monkeypatch.setattr(intake, "MAX_FIELD_CHARS", 1000)
    previous = csv.field_size_limit(1000)
    text = 'email,notes\na@x.io,"' + "x" * 5000 + '"\nb@x.io,ok\n'
    try:
        with pytest.raises(IntakeError, match="a field is longer than 1,000 characters"):
            read_lead_file(_write(tmp_path, "leads.csv", text))
    finally:
        csv.field_size_limit(previous)


# Repeated JSON keys and scalar lines


def test_jsonl_repeated_key_is_row_problem(tmp_path: Path) -> None:
    lines = [
        '{"email": "a@x.io", "consent_share": "yes"}',
        '{"email": "b@x.io", "consent_share": "no", "consent_share": "yes"}',
        '{"email": "c@x.io", "consent_share": "no"}',
    ]
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    frame = batch.frame
    problems = frame[PROBLEM_COLUMN].tolist()

    assert batch.rows == 3
    assert batch.header == ["email", "consent_share"]
    assert problems[0] is None
    assert problems[1] == "line 2: key 'consent_share' appears twice; keep one"
    assert problems[2] is None
    assert frame.loc[1, "consent_share"] is None
    assert frame.loc[2, "consent_share"] == "no"


def test_jsonl_only_repeated_keys_rejected(tmp_path: Path) -> None:
    line = '{"email": "a@b.de", "email": "zz@b.de", "consent_share": "yes"}\n'

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.jsonl", line))

    assert "none of the 1 lines can be read as a lead" in caught.value.reason
    assert "line 1: key 'email' appears twice" in caught.value.reason
    assert "JSON array" not in caught.value.fix


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("42", "number"),
        ("-1.5e3", "number"),
        ('"just a string"', "string"),
        ("true", "boolean"),
        ("null", "null"),
        ("[1, 2]", "array"),
    ],
)
def test_jsonl_scalar_line_names_type(tmp_path: Path, line: str, kind: str) -> None:
    content = '{"email": "a@x.io"}\n' + line + "\n"
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", content))

    assert batch.frame.loc[1, PROBLEM_COLUMN] == (
        f"line 2: expected a JSON object, got a JSON {kind}; write one object per line"
    )


@pytest.mark.parametrize(
    ("value", "name"),
    [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity")],
)
def test_jsonl_nan_and_infinity_rejected(tmp_path: Path, value: str, name: str) -> None:
    content = '{"email": "a@x.io"}\n{"email": "b@x.io", "engagement": ' + value + "}\n"

    batch = read_lead_file(_write(tmp_path, "leads.jsonl", content))

    assert batch.frame.loc[0, PROBLEM_COLUMN] is None
    assert batch.frame.loc[1, PROBLEM_COLUMN] == (
        f"line 2: {name} is not valid JSON; write a number, a string or null"
    )


# Excel sep= line

SEP_HEADER = ["external_id", "email", "notes"]


@pytest.mark.parametrize(
    ("delimiter", "quote"), [(";", ""), (",", ""), ("\t", ""), (";", '"'), (",", '"')]
)
def test_sep_line_sets_delimiter(tmp_path: Path, delimiter: str, quote: str) -> None:
    rows = [SEP_HEADER, ["Q1", "a@x.de", "1,5"], ["Q2", "b@x.de", ""]]
    lines = [f"{quote}sep={delimiter}{quote}"]
    for row in rows:
        lines.append(delimiter.join(f'"{v}"' if delimiter in v else v for v in row))
    batch = read_lead_file(_write(tmp_path, "leads.csv", "\r\n".join(lines) + "\r\n"))
    frame = batch.frame

    assert batch.delimiter == delimiter
    assert batch.header == SEP_HEADER
    assert batch.header_line == 2
    assert batch.rows == 2
    assert _rows_are_complete(frame, 2)
    assert frame[PROBLEM_COLUMN].isna().all()
    assert frame["external_id"].tolist() == ["Q1", "Q2"]
    assert frame["notes"].tolist() == ["1,5", ""]
    assert any("sep=" in note for note in batch.notes)


def test_sep_line_with_bom_and_ragged_row(tmp_path: Path) -> None:
    content = "sep=;\nemail;name\na@x.de;Ann\nb@x.de;Bob;extra\nc@x.de;Cy\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", UTF8_BOM + content.encode()))
    problems = batch.frame[PROBLEM_COLUMN].tolist()

    assert batch.encoding == "utf-8-sig"
    assert batch.delimiter == ";"
    assert batch.rows == 3
    assert _rows_are_complete(batch.frame, 3)
    assert problems[0] is None
    assert problems[1].startswith("line 4: expected 2 fields, got 3")
    assert problems[2] is None


@pytest.mark.parametrize(
    ("content", "words", "line"),
    [
        ("sep=;\nemail,name\na@x.de,Ann\n", "header splits on the comma", 1),
        ("sep=|\nemail|name\na@x.de|Ann\n", "'|', which is not supported", 1),
        ("sep=;\n", "only the line 'sep=;'", 1),
        ("sep=;\nemail;name\n", "no data rows", 2),
        ("sep=;\nemail;name\na;b\nc;d;e;f\ng;h;i;j\n", "33% of the first 3 rows", 1),
    ],
)
def test_sep_line_rejected(tmp_path: Path, content: str, words: str, line: int) -> None:
    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert words in caught.value.reason
    assert caught.value.line == line


def test_sep_line_header_errors_name_line_two(tmp_path: Path) -> None:
    path = _write(tmp_path, "leads.csv", "sep=,\nemail,Email\na@x.de,b@x.de\n")

    with pytest.raises(IntakeError) as caught:
        read_lead_file(path)

    assert "duplicate column name" in caught.value.reason
    assert caught.value.line == 2


def test_sep_line_missing_column_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "leads.csv", "sep=,\nname,company\nAnn,Acme\n")

    with pytest.raises(GateError) as caught:
        apply_profile(read_lead_file(path), _profile())

    assert caught.value.line == 2


def test_sep_text_in_data_not_skipped(tmp_path: Path) -> None:
    content = "notes,email\nsep=;,a@x.de\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.header == ["notes", "email"]
    assert batch.rows == 1
    assert batch.frame.loc[0, "notes"] == "sep=;"


# Trailing delimiter on the header or the rows only


def test_trailing_delimiter_rows_only_imported(tmp_path: Path) -> None:
    content = "email,name,notes\na@x.de,Ann,,\nb@x.de,Bob,hi,\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))
    frame = batch.frame

    assert batch.header == ["email", "name", "notes"]
    assert batch.rows == 2
    assert list(frame.columns) == ["email", "name", "notes", ROW_COLUMN, PROBLEM_COLUMN]
    assert frame[PROBLEM_COLUMN].isna().all()
    assert frame["notes"].tolist() == ["", "hi"]
    assert batch.notes == [
        "dropped the empty field after column 3 on every row: the data rows end "
        "with an extra delimiter and the header does not"
    ]


def test_trailing_delimiter_header_only_imported(tmp_path: Path) -> None:
    content = "email,name,notes,\na@x.de,Ann,\nb@x.de,Bob,hi\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))
    frame = batch.frame

    assert batch.header == ["email", "name", "notes"]
    assert batch.rows == 2
    assert frame[PROBLEM_COLUMN].isna().all()
    assert frame["notes"].tolist() == ["", "hi"]
    assert len(batch.notes) == 1
    assert "the header ends with an extra delimiter" in batch.notes[0]


def test_trailing_delimiter_header_only_ragged_row(tmp_path: Path) -> None:
    content = "email,name,\na@x.de,Ann\nb@x.de,Bob\nc@x.de,Cy,extra\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))
    problems = batch.frame[PROBLEM_COLUMN].tolist()

    assert batch.header == ["email", "name"]
    assert batch.rows == 3
    assert problems[:2] == [None, None]
    assert problems[2].startswith("line 4: expected 2 fields, got 3")


def test_trailing_delimiter_some_rows_rejected(tmp_path: Path) -> None:
    content = "email,name\na@x.de,Ann,\nb@x.de,Bob,\nc@x.de,Cy\nd@x.de,Di,\n"

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.reason.startswith(
        "the data rows end with an extra comma (3 fields) but the header row does "
        "not (2 fields). 1 of 4 data rows do not end that way (first: line 4)"
    )
    assert caught.value.line == 4
    assert "every line has the same number of fields" in caught.value.fix


def test_trailing_delimiter_rows_value_rejected(tmp_path: Path) -> None:
    content = "email,name\na@x.de,Ann,\nb@x.de,Bob,x\nc@x.de,Cy,\n"

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert "1 of 3 data rows do not end that way (first: line 3)" in (
        caught.value.reason
    )


# Quote characters that break a record


def test_stray_quote_in_field_named(tmp_path: Path) -> None:
    content = 'email,status,notes\na@x.de,new"line1\nline2"\nb@x.de,new,\n'

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.line == 2
    assert caught.value.reason.startswith(
        "field 2 (status) contains a quote character but is not quoted "
        "('new\"'), so the record runs on to line 3."
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('a,"b",c', None),
        ('a,"b ""c""",d', None),
        ('"a,b",c', None),
        (
            'a,b"c,d',
            "line 7: field 2 (name) contains a quote character but is not quoted "
            "('b\"')",
        ),
        ('a,"b"c,d', "line 7: field 2 (name) has text after its closing quote"),
        ('a,"b""', "line 7: the quoted value in field 2 (name) is never closed"),
        (
            'a,b,c,d"e',
            "line 7: field 4 contains a quote character but is not quoted ('d\"')",
        ),
        (
            'a,"x\ny",b"\nz"',
            "line 8: field 3 (notes) contains a quote character but is not quoted "
            "('b\"'), so the record runs on to line 9",
        ),
    ],
)
def test_misplaced_quote_reason(text: str, reason: str | None) -> None:
    found = _misplaced_quote_reason(text, 7, ["email", "name", "notes"], ",")

    assert found == (None if reason is None else reason + QUOTE_FIX)


def _lead_lines(count: int) -> list[str]:
    return [
        f"X-{i},p{i}@acme.com,Anna{i},Lee{i},Acme{i} Inc,CTO,US" for i in range(count)
    ]


LEAD_HEADER = "external_id,email,first_name,last_name,company,job_title,country"


def test_stray_quotes_far_apart_rejected(tmp_path: Path) -> None:
    lines = _lead_lines(300)
    lines[1] = lines[1].replace("Lee1", 'O"Brien')
    lines[250] = lines[250].replace(",CTO,", ",5'10\" CTO,")
    content = "\n".join([LEAD_HEADER, *lines]) + "\n"

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.line == 3
    assert "field 4 (last_name) contains a quote character" in caught.value.reason
    assert "runs on to line 252" in caught.value.reason
    assert "Quote that field and double the quote inside it" in caught.value.fix


def test_stray_opening_quote_swallowing_rows(tmp_path: Path) -> None:
    lines = _lead_lines(8)
    lines[1] = lines[1].replace(",Anna1,", ',"Anna1,')
    lines[5] = lines[5].replace(",CTO,", ',5\'10",')
    content = "\n".join([LEAD_HEADER, *lines]) + "\n"

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.line == 3
    assert caught.value.reason.startswith(
        "the quoted value in field 3 (first_name) runs on to line 7, and "
        "line 4 inside it has the 7 fields of a whole row"
    )
    assert "Remove the stray quote" in caught.value.fix


def test_multiline_values_still_read(tmp_path: Path) -> None:
    notes = '"Met at the fair\nasked about pricing, terms\n\nand ""support""\r\nbye"'
    lines = _lead_lines(4)
    lines[2] += "," + notes
    content = "\n".join([LEAD_HEADER + ",notes", *(f"{x}," for x in lines)])
    content = content.replace(f"{lines[2]},", lines[2]) + "\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.rows == 4
    assert batch.frame[PROBLEM_COLUMN].isna().all()
    assert batch.frame.loc[2, "notes"] == (
        'Met at the fair\nasked about pricing, terms\n\nand "support"\r\nbye'
    )
    assert batch.frame.loc[3, "external_id"] == "X-3"


def test_narrow_file_multiline_comma_note(tmp_path: Path) -> None:
    content = 'email,notes\na@x.io,"first\nsecond, with comma\nthird"\nb@x.io,ok\n'
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.rows == 2
    assert batch.frame.loc[0, "notes"] == "first\nsecond, with comma\nthird"


# Lone carriage returns


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_lone_cr_between_rows_rejected(tmp_path: Path, line_end: str) -> None:
    lines = _lead_lines(4)
    content = line_end.join([LEAD_HEADER, *lines[:2]]) + line_end
    content += lines[2] + "\r" + lines[3] + line_end

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.line == 4
    assert caught.value.reason.startswith(
        "a carriage return without a line feed (a lone CR) is at character "
        f"{len(lines[2]) + 1} of this line"
    )
    assert "Replace the lone CR" in caught.value.fix


@pytest.mark.parametrize(
    "content",
    [
        'email,name\na@x.io,"Bo\rb"\nc@x.io,Cy\n',
        "email,name\r\na@x.io,Bob\r\r\nc@x.io,Cy\r",
    ],
)
def test_quoted_or_doubled_cr_read(tmp_path: Path, content: str) -> None:
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.rows == 2
    assert batch.frame[PROBLEM_COLUMN].isna().all()
    assert batch.frame.loc[1, "name"] == "Cy"


# Misleading reasons


def test_unquoted_comma_named_not_trailing(tmp_path: Path) -> None:
    lines = [f"{x},https://acme.com," for x in _lead_lines(4)]
    lines[1] = lines[1].replace("Acme1 Inc", "Acme1, Inc")
    content = "\n".join([LEAD_HEADER + ",website,notes", *lines]) + "\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))
    problems = batch.frame[PROBLEM_COLUMN].tolist()

    assert batch.rows == 4
    assert problems[1] == (
        "line 3: expected 9 fields, got 10; field 5 (company) probably contains an "
        "unquoted comma (field 6 starts with a space), which shifts the later "
        "fields" + RAGGED_FIX
    )
    assert problems[0] is None


def test_empty_last_field_ambiguous(tmp_path: Path) -> None:
    content = (
        "email,name,notes\n"
        "a@x.io,Ann,\n"
        "b@x.io,Bob,x,\n"
        "c@x.io,Cy,\n"
    )
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))

    assert batch.frame.loc[1, PROBLEM_COLUMN] == (
        "line 3: expected 3 fields, got 4; either the line ends with an extra "
        "delimiter or a value contains an unquoted comma, which shifts the later "
        "fields (the last column is empty, so the two cannot be told apart)"
        + RAGGED_FIX
    )


def test_repeated_header_row_quarantined(tmp_path: Path) -> None:
    lines = _lead_lines(4)
    content = "\n".join(
        [LEAD_HEADER, *lines[:2], " " + LEAD_HEADER.upper(), *lines[2:]]
    )
    batch = read_lead_file(_write(tmp_path, "leads.csv", content + "\n"))
    problems = batch.frame[PROBLEM_COLUMN].tolist()

    assert batch.rows == 5
    assert _rows_are_complete(batch.frame, 5)
    assert problems[2] == (
        "line 4: repeated header row. It contains the column names of line 1 "
        "again (in any order), as when two exports are joined, and is not a lead"
    )
    assert problems[:2] == [None, None]
    assert problems[3:] == [None, None]


def test_repeated_header_in_ragged_file(tmp_path: Path) -> None:
    content = "email,name,country\na@x.io,Ann,DE\nb@x.io\nemail,name,country\n"
    batch = read_lead_file(_write(tmp_path, "leads.csv", content))
    problems = batch.frame[PROBLEM_COLUMN].tolist()

    assert batch.rows == 3
    assert problems[1].startswith("line 3: expected 3 fields, got 1")
    assert problems[2].startswith("line 4: repeated header row.")


# UTF-16 without a byte-order mark


@pytest.mark.parametrize(
    ("codec", "order"), [("utf-16-le", "little-endian"), ("utf-16-be", "big-endian")]
)
def test_utf16_without_bom_named(tmp_path: Path, codec: str, order: str) -> None:
    content = "email,name\na@x.de,Zoë\nb@x.de,Jérôme\n".encode(codec)

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.reason == (
        f"the file looks like UTF-16 ({order}) text without a byte-order mark: "
        "every other byte is NUL"
    )
    assert "UTF-8" in caught.value.fix


def test_nul_in_utf8_text_still_binary(tmp_path: Path) -> None:
    content = b"email,name\na@x.de,Ann\x00\nb@x.de,Bob\n"

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert "the file is binary (NUL byte at byte offset 21)" in caught.value.reason
    assert caught.value.line == 2


def test_binary_without_nul_named_binary(tmp_path: Path) -> None:
    # Random bytes with no NUL, as an encrypted or image file can be: about one
    # byte in ten is a control byte that no text file contains.
    noise = np.random.default_rng(7).integers(1, 256, 5000, dtype=np.uint8)
    content = b"email,name\n" + noise.tobytes()
    first = 11 + int(np.flatnonzero((noise < 0x20) & ~np.isin(noise, [9, 10, 13]))[0])

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.reason.startswith(
        f"the file is binary (control byte 0x{content[first]:02X} at byte offset "
        f"{first}, and many more in its first 65,536 bytes)"
    )
    assert caught.value.line == content[:first].count(b"\n") + 1
    assert "Export the sheet as CSV" in caught.value.fix


@pytest.mark.parametrize(("delimiter", "name"), [("|", "vertical bar"), (":", "colon")])
def test_unsupported_delimiter_named(
    tmp_path: Path, delimiter: str, name: str
) -> None:
    lines = ["email,name,country", "a@x.de,Ann,DE", "b@x.fr,Bo,FR"]
    content = "\n".join(line.replace(",", delimiter) for line in lines) + "\n"

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content.encode()))

    assert caught.value.reason == (
        f"the header and the rows are delimited by the {name} ({delimiter!r}, 3 "
        "columns), which leadshare does not read"
    )
    assert caught.value.line == 1
    assert "commas, semicolons or tabs" in caught.value.fix


def test_single_column_with_colons_in_values_still_read(tmp_path: Path) -> None:
    # One column whose values hold a colon is not a colon-delimited file.
    content = b"email\na@x.de\nb@x.fr\n"

    frame = read_lead_file(_write(tmp_path, "leads.csv", content)).frame

    assert frame["email"].tolist() == ["a@x.de", "b@x.fr"]


@pytest.mark.parametrize(
    ("first_line", "column", "kind"),
    [
        ("X-1,hilde.privat@example.org,Hilde,Privat,Berlin,Berlin", 2, "an e-mail"),
        ("X-1,Hilde,Privat,+49 30 1112223,Berlin,Berlin", 4, "a number of 6+"),
    ],
)
def test_headerless_file_named_without_its_values(
    tmp_path: Path, first_line: str, column: int, kind: str
) -> None:
    # The first line is a lead. Its cells must not reach the reason, because the
    # reason goes to logs, the store and the quarantine folder. The repeated
    # "Berlin" must not be reported as a duplicate column name either.
    content = f"{first_line}\nX-2,bo@example.org,Bo,Ng,Paris,Paris\n".encode()

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.reason.startswith(
        f"line 1 looks like a lead, not a header row: column {column} of 6 contains "
        f"{kind}"
    )
    assert caught.value.line == 1
    for cell in ("hilde", "Privat", "1112223", "Berlin"):
        assert cell not in str(caught.value)


def test_one_line_lead_named_as_missing_header(tmp_path: Path) -> None:
    content = b"Zelda Quartz,zelda.q@acme-widgets.example,+49 30 1234567\n"

    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.csv", content))

    assert caught.value.reason.startswith(
        "line 1 looks like a lead, not a header row: column 2 of 3 contains an "
        "e-mail address"
    )
    assert "zelda" not in str(caught.value).lower()


def test_stray_control_byte_still_text(tmp_path: Path) -> None:
    # One end-of-file byte (0x1A), as old DOS tools append, is no sign of binary.
    content = b"email,name\na@x.de,Ann\nb@x.de,Bob\n\x1a"

    frame = read_lead_file(_write(tmp_path, "leads.csv", content)).frame

    assert frame["email"].tolist()[:2] == ["a@x.de", "b@x.de"]


@pytest.mark.parametrize(
    "content",
    [
        '{"email": "a@x.de"}\n'.encode("utf-16"),
        '{"email": "a@x.de"}\n{"email": "b@x.de"}\n'.encode("utf-16-le"),
        b'{"email": "a@x.de"}\n\x00\x01\x02',
    ],
)
def test_jsonl_encoding_fix_names_no_csv(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(IntakeError) as caught:
        read_lead_file(_write(tmp_path, "leads.jsonl", content))

    assert "CSV" not in caught.value.fix
    assert "UTF-8" in caught.value.fix


# JSON text that cannot be stored


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("Jo\\ud800hn", "invalid Unicode escape (an unpaired surrogate"),
        ("Jo\\udc00hn", "invalid Unicode escape (an unpaired surrogate"),
        ("Jo\\u0000hn", "control character U+0000"),
        ("Jo\\u001bhn", "control character U+001B"),
    ],
)
def test_jsonl_unstorable_value_is_row_problem(
    tmp_path: Path, value: str, words: str
) -> None:
    lines = [
        '{"email": "a@x.io", "first_name": "Ann"}',
        '{"email": "b@x.io", "first_name": "' + value + '"}',
        '{"email": "c@x.io", "first_name": "Cy"}',
    ]
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    frame = batch.frame
    problem = frame.loc[1, PROBLEM_COLUMN]

    assert batch.rows == 3
    assert problem.startswith("line 2: field 'first_name' contains ")
    assert words in problem
    assert "Jo" not in problem
    assert frame.loc[1, "first_name"] is None
    assert frame.loc[1, "email"] is None
    assert frame.loc[0, PROBLEM_COLUMN] is None
    assert frame.loc[2, "first_name"] == "Cy"


def test_jsonl_tab_and_newline_kept(tmp_path: Path) -> None:
    line = '{"email": "a@x.io", "notes": "one\\ttwo\\r\\nthree"}\n'
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", line))

    assert batch.frame.loc[0, PROBLEM_COLUMN] is None
    assert batch.frame.loc[0, "notes"] == "one\ttwo\r\nthree"


@pytest.mark.parametrize("key", ["first\\ud800name", "first\\u0000name"])
def test_jsonl_unstorable_key_not_quoted(tmp_path: Path, key: str) -> None:
    lines = ['{"email": "a@x.io"}', '{"email": "b@x.io", "' + key + '": "Bo"}']
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    problem = batch.frame.loc[1, PROBLEM_COLUMN]

    assert problem.startswith("line 2: a key contains ")
    assert "name" not in problem
    assert batch.header == ["email"]


def test_jsonl_repeated_bad_key_not_quoted(tmp_path: Path) -> None:
    lines = ['{"email": "a@x.io"}', '{"email": "b@x.io", "x\\ud800": 1, "x\\ud800": 2}']
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))

    assert batch.frame.loc[1, PROBLEM_COLUMN] == "line 2: a key appears twice; keep one"


def test_jsonl_deep_nesting_is_row_problem(tmp_path: Path) -> None:
    lines = [
        '{"email": "a@x.io"}',
        '{"email": "b@x.io", "notes": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "[" * 100_000,
    ]
    batch = read_lead_file(_write(tmp_path, "leads.jsonl", "\n".join(lines) + "\n"))
    problems = batch.frame[PROBLEM_COLUMN].tolist()

    assert batch.rows == 3
    assert problems[0] is None
    assert problems[1].startswith("line 2: the JSON value is nested too deeply")
    assert problems[2].startswith("line 3: the JSON value is nested too deeply")
