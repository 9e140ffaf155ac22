"""File channels: partner CSV drops, CRM export, manual-handoff queue, atomic writes."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadshare.transfer.filedrop import (
    MANUAL_HANDOFF_FILE,
    QueueFileError,
    append_manual_handoff,
    describe_write_error,
    format_cell,
    write_crm_assignments,
    write_partner_csv,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def b23() -> Path:
    folder = SHARED / "cases" / "B23"
    if not folder.is_dir():
        pytest.fail(
            f"shared case folder {folder} is missing; lay shared/ beside the checkout"
        )
    return folder


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    return list(reader.fieldnames or []), rows


def test_b23_matches_expected_bytes(b23, tmp_path):
    columns, rows = _read_rows(b23 / "leads.csv")
    path = write_partner_csv(tmp_path, "partner-a", "run-1", rows, columns)
    assert path.read_bytes() == (b23 / "expected_partner_drop.csv").read_bytes()


def test_b23_changed_cells(b23, tmp_path):
    expected = json.loads((b23 / "expected.json").read_text(encoding="utf-8"))
    columns, rows = _read_rows(b23 / "leads.csv")
    path = write_partner_csv(tmp_path, "partner-a", "run-1", rows, columns)
    _, written = _read_rows(path)
    by_id = {row["lead_id"]: row for row in written}
    assert len(written) == expected["rows_out"]
    for lead_id, cells in expected["changed_cells"].items():
        for column, value in cells.items():
            assert by_id[lead_id][column] == value, f"{lead_id}.{column}"
    for key, value in expected["unchanged_examples"].items():
        lead_id, column = key.split(".")
        assert by_id[lead_id][column] == value, key


def test_trigger_chars_escaped():
    for value in ["=1", "+1", "-1", "@a", "\t=1", "\r=1"]:
        assert format_cell(value) == "'" + value
    assert format_cell("Park-Lee") == "Park-Lee"
    assert format_cell("") == ""
    assert format_cell(None) == ""


HIDDEN_FORMULA_CELLS = [
    " =2+2",
    "  \t=2+2",
    "\n=1+1",
    "\u00a0=3+3",  # no-break space
    "\u2007+1",  # figure space
    "\u3000-1",  # ideographic space
    "\u200b=4+4",  # zero-width space
    "\u200d@a",  # zero-width joiner
    "\u2060=1",  # word joiner
    "\ufeff=1",  # byte order mark
    "\u00ad=1",  # soft hyphen
    "\u202e=1",  # right-to-left override
    "\u2028=1",  # line separator
    "\u3164=1",  # Hangul filler
    "\u2800=1",  # braille blank
    "\u200b\u00a0 =1",
    "\uff1d1+1",  # full-width equals sign
    "\uff0bcmd",  # full-width plus sign
    "\uff0d1",  # full-width hyphen-minus
    "\uff20SUM(A1)",  # full-width commercial at
    "\ufe66x",  # small equals sign
    "\u00a0\uff1d1",
]


@pytest.mark.parametrize("value", HIDDEN_FORMULA_CELLS)
def test_hidden_trigger_escaped(value):
    assert format_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["Park-Lee", " Acme", "\u00a0Acme", "\u200b", "   ", "A=1"]
)
def test_visible_text_kept(value):
    assert format_cell(value) == value


def test_hidden_trigger_in_partner_csv(tmp_path):
    rows = [{"lead_id": "L-1", "company": "\u00a0=3+3"}]
    path = write_partner_csv(tmp_path, "acme", "run-1", rows, ["lead_id", "company"])
    _, written = _read_rows(path)
    assert written[0]["company"] == "'\u00a0=3+3"


def test_typed_values_kept():
    assert format_cell("+442079460021", "e164") == "+442079460021"
    assert format_cell("-3", "integer") == "-3"
    assert format_cell(-3) == "-3"
    assert format_cell(87.5) == "87.5"
    assert format_cell(float("nan")) == ""


def test_typed_column_bad_value_escaped():
    assert format_cell("=HYPERLINK(1)", "e164") == "'=HYPERLINK(1)"
    assert format_cell("-3 units", "integer") == "'-3 units"


def test_same_run_one_file(tmp_path):
    rows = [{"lead_id": "L-1", "company": "A"}]
    first = write_partner_csv(tmp_path, "acme", "run-7", rows, ["lead_id", "company"])
    rows.append({"lead_id": "L-2", "company": "B"})
    second = write_partner_csv(tmp_path, "acme", "run-7", rows, ["lead_id", "company"])
    assert first == second
    assert sorted(path.name for path in tmp_path.iterdir()) == ["acme_run-7.csv"]
    assert second.read_text(encoding="utf-8").count("\n") == 3


def test_columns_are_allowlist(tmp_path):
    rows = [{"lead_id": "L-1", "email": "private.person@example.com"}]
    path = write_partner_csv(tmp_path, "acme", "run-1", rows, ["lead_id"])
    assert "private.person" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("bad", ["../evil", "a/b", ".hidden", "", "x" * 200])
def test_unsafe_names_rejected(tmp_path, bad):
    with pytest.raises(ValueError):
        write_partner_csv(tmp_path, bad, "run-1", [], ["lead_id"])


def test_crm_assignments(tmp_path):
    assigned = dt.datetime(2024, 5, 14, 10, 0, tzinfo=dt.UTC)
    rows = [
        {
            "lead_id": "L-1",
            "owner_id": "U-9",
            "partner_id": "acme",
            "assigned_at": assigned,
            "company": "=cmd",
            "email": "private.person@example.com",
        }
    ]
    path = write_crm_assignments(tmp_path, "run-1", rows, fields=["company"])
    columns, written = _read_rows(path)
    assert path.name == "crm_assignments_run-1.csv"
    assert columns == ["lead_id", "owner_id", "partner_id", "assigned_at", "company"]
    assert written[0]["assigned_at"] == "2024-05-14T10:00:00+00:00"
    assert written[0]["company"] == "'=cmd"
    assert "private.person" not in path.read_text(encoding="utf-8")


def test_crm_row_missing_owner(tmp_path):
    rows = [{"lead_id": "L-1", "partner_id": "acme", "assigned_at": "2024-05-14"}]
    with pytest.raises(ValueError, match="owner_id"):
        write_crm_assignments(tmp_path, "run-1", rows)


def test_manual_handoff_dedups(tmp_path):
    first = [{"transfer_id": "T-1", "partner_id": "acme"}]
    path = append_manual_handoff(tmp_path, first)
    append_manual_handoff(tmp_path, first + [{"transfer_id": "T-2", "partner_id": "b"}])
    append_manual_handoff(tmp_path, first)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["transfer_id"] for line in lines] == ["T-1", "T-2"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_manual_handoff_keeps_line_like_characters(tmp_path, separator):
    company = f"Acme{separator}Holding"
    path = append_manual_handoff(tmp_path, [{"transfer_id": "T-1", "company": company}])
    # A queue written before these were escaped contains them raw.
    path.write_text(
        path.read_text(encoding="utf-8") + json.dumps(
            {"transfer_id": "T-0", "company": company}, ensure_ascii=False
        ) + "\n",
        encoding="utf-8",
    )

    append_manual_handoff(tmp_path, [{"transfer_id": "T-2", "company": company}])
    append_manual_handoff(tmp_path, [{"transfer_id": "T-1", "company": company}])

    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    records = [json.loads(line) for line in lines]
    assert [record["transfer_id"] for record in records] == ["T-1", "T-0", "T-2"]
    assert all(record["company"] == company for record in records)
    assert separator not in lines[0]
    assert separator not in lines[2]


def test_manual_handoff_needs_key(tmp_path):
    with pytest.raises(ValueError, match="transfer_id"):
        append_manual_handoff(tmp_path, [{"partner_id": "acme"}])


@pytest.mark.parametrize(
    "second_line",
    [b"[1, 2]", b'{"transfer_id": "T-3", "city": "K\xf6ln"}'],
    ids=["not an object", "cp1252"],
)
def test_unreadable_queue_line_named(tmp_path, second_line):
    content = b'{"transfer_id": "T-1"}\n' + second_line + b"\n"
    path = tmp_path / MANUAL_HANDOFF_FILE
    path.write_bytes(content)

    with pytest.raises(QueueFileError) as caught:
        append_manual_handoff(tmp_path, [{"transfer_id": "T-2"}])

    assert str(caught.value).startswith(f"{path}, line 2: ")
    assert str(caught.value).endswith(
        "repair that line or move the file away, then the next run writes the leads"
    )
    assert path.read_bytes() == content


def test_no_temp_files_left(tmp_path):
    write_partner_csv(tmp_path, "acme", "run-1", [{"a": "1"}], ["a"])
    append_manual_handoff(tmp_path, [{"transfer_id": "T-1"}])
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


CRASH_SCRIPT = """
import sys
from pathlib import Path
from leadshare.transfer.filedrop import write_partner_csv
write_partner_csv(Path(sys.argv[1]), "acme", "run-1", [{"a": "new"}], ["a"])
"""


def test_crash_before_replace(tmp_path):
    target = tmp_path / "acme_run-1.csv"
    target.write_bytes(b"a\nold\n")
    environment = dict(os.environ, LEADSHARE_FAILPOINT="after_csv_temp_write")
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path)],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        timeout=60,
    )
    temps = [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]
    assert crashed.returncode == 77
    assert target.read_bytes() == b"a\nold\n"
    assert len(temps) == 1
    assert temps[0].read_bytes() == b"a\nnew\n"

    write_partner_csv(tmp_path, "acme", "run-1", [{"a": "new"}], ["a"])
    assert target.read_bytes() == b"a\nnew\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["acme_run-1.csv"]


def _written_with_umask(umask: int, write) -> int:
    """Return the permission bits of the file that ``write()`` returns under ``umask``."""
    previous = os.umask(umask)
    try:
        path = write()
    finally:
        os.umask(previous)
    return path.stat().st_mode & 0o777


WRITERS = {
    "file_drop": lambda folder: write_partner_csv(
        folder, "acme", "run-1", [{"a": "1"}], ["a"]
    ),
    "crm_export": lambda folder: write_crm_assignments(
        folder,
        "run-1",
        [{"lead_id": "L-1", "owner_id": "U-1", "partner_id": "acme", "assigned_at": "x"}],
    ),
    "manual": lambda folder: append_manual_handoff(folder, [{"transfer_id": "T-1"}]),
}


@pytest.mark.parametrize("channel", sorted(WRITERS))
@pytest.mark.parametrize(
    ("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)], ids=["umask022", "umask027"]
)
def test_file_mode_follows_umask(tmp_path, channel, umask, mode):
    write = WRITERS[channel]

    first = _written_with_umask(umask, lambda: write(tmp_path))
    # Rewriting replaces the file through a new temp file, which gets the mode too.
    again = _written_with_umask(umask, lambda: write(tmp_path))

    assert oct(first) == oct(mode)
    assert oct(again) == oct(mode)


def test_crash_leaves_temp_with_umask_mode(tmp_path):
    environment = dict(os.environ, LEADSHARE_FAILPOINT="after_csv_temp_write")
    previous = os.umask(0o022)
    try:
        crashed = subprocess.run(
            [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path)],
            cwd=PROJECT,
            env=environment,
            capture_output=True,
            timeout=60,
        )
    finally:
        os.umask(previous)

    (temp,) = tmp_path.iterdir()
    assert crashed.returncode == 77
    assert oct(temp.stat().st_mode & 0o777) == oct(0o644)


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """Make ``folder`` unwritable for this process inside the block.

    Root ignores mode bits, so under root the folder gets the immutable flag
    (``chattr +i``) instead. The test is skipped when the file system lacks it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr, so no folder is read-only")
    flagged = subprocess.run(
        ["chattr", "+i", str(folder)], capture_output=True, text=True, check=False
    )
    if flagged.returncode != 0:
        pytest.skip(f"chattr +i failed on {folder}: {flagged.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def _write_error(folder: Path) -> OSError:
    """Return the OSError that writing a partner CSV into ``folder`` raises."""
    with pytest.raises(OSError) as caught:
        write_partner_csv(folder, "acme", "run-1", [{"a": "1"}], ["a"])
    return caught.value


def test_file_in_place_of_folder_named(tmp_path):
    folder = tmp_path / "file_drop" / "acme"
    folder.parent.mkdir()
    folder.write_text("not a folder", encoding="utf-8")

    text = describe_write_error(folder, _write_error(folder))

    assert f"outbox folder {folder} cannot be created" in text
    assert f"because {folder} is not a folder" in text
    assert "move that file away" in text


def test_file_in_place_of_parent_named(tmp_path):
    folder = tmp_path / "file_drop" / "acme"
    folder.parent.write_text("not a folder", encoding="utf-8")

    text = describe_write_error(folder, _write_error(folder))

    assert f"because {folder.parent} is not a folder" in text


def test_read_only_folder_named(tmp_path):
    folder = tmp_path / "acme"
    with read_only_folder(folder):
        error = _write_error(folder)

    text = describe_write_error(folder, error)

    assert isinstance(error, PermissionError)
    assert f"outbox folder {folder} is not writable for this user" in text
    assert "chattr -i" in text
    assert list(folder.iterdir()) == []


def test_read_only_parent_named(tmp_path):
    folder = tmp_path / "file_drop" / "acme"
    with read_only_folder(folder.parent):
        error = _write_error(folder)

    text = describe_write_error(folder, error)

    assert f"because {folder.parent} is not writable" in text


def test_folder_in_place_of_file_named(tmp_path):
    (tmp_path / "acme_run-1.csv").mkdir()

    text = describe_write_error(tmp_path, _write_error(tmp_path))

    assert f"cannot write {tmp_path / 'acme_run-1.csv'} because a folder" in text
    assert [path.name for path in tmp_path.iterdir()] == ["acme_run-1.csv"]
