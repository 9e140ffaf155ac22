"""File channels: partner CSV drops, CRM assignment export, manual-handoff queue.

Every file is written atomically: a temporary file in the same folder is written,
flushed and fsynced, then ``os.replace`` gives it its final name and the folder is
fsynced. A reader (a partner's pickup job, an SFTP sync) therefore opens either the
old file or the complete new one, never a partial file. Temporary names start with
a dot and end in ``.tmp`` so pickup jobs can skip them.

CSV cells are protected against formula injection: a text cell whose first
character is TAB or CR, or whose first visible character is ``=``, ``+``, ``-`` or
``@``, gets one leading apostrophe, which spreadsheet programs show as text instead of
running it. Leading spaces, controls and invisible format characters (no-break space,
zero-width space, BOM) are skipped to find the first visible character, and the
full-width and small forms of the four signs count as well. Values that are typed by
construction (Python numbers, dates) and typed columns whose value matches their
pattern (an E.164 phone, an integer, a decimal) are written unchanged.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from leadshare import failpoints

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_SIGNS = frozenset("=+-@")
"""Signs that start a formula when they are the first visible character of a cell."""

BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
"""Unicode categories of spaces, separators, controls and format characters."""

BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Hangul fillers and the braille blank: letters or symbols that render as blanks."""

TYPED_PATTERNS: dict[str, re.Pattern[str]] = {
    "e164": re.compile(r"\+[1-9][0-9]{1,14}"),
    "integer": re.compile(r"-?[0-9]+"),
    "decimal": re.compile(r"-?[0-9]+(\.[0-9]+)?"),
}

DEFAULT_TYPED_COLUMNS: dict[str, str] = {
    "phone": "e164",
    "phone_e164": "e164",
    "score": "decimal",
    "score_delta": "integer",
}
"""Column -> kind in TYPED_PATTERNS; the validate stage guarantees these formats."""

CRM_COLUMNS = ("lead_id", "owner_id", "partner_id", "assigned_at")
MANUAL_HANDOFF_FILE = "manual_handoff.jsonl"
TEMP_NAME_TRIES = 100
"""Random temporary names tried before giving up; 48 random bits make a clash rare."""
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def neutralise_cell(value: str) -> str:
    """Prefix an apostrophe when a text cell could start a formula."""
    if value.startswith(FORMULA_TRIGGERS) or _first_visible_is_sign(value):
        return "'" + value
    return value


def _first_visible_is_sign(value: str) -> bool:
    """Return whether the first visible character of ``value`` is a formula sign.

    NFKC maps the full-width (such as U+FF1D) and small (such as U+FE66) forms of
    the signs to their ASCII characters.
    """
    for char in value:
        if char in BLANK_LETTERS or unicodedata.category(char) in BLANK_CATEGORIES:
            continue
        return unicodedata.normalize("NFKC", char) in FORMULA_SIGNS
    return False


def format_cell(value: Any, kind: str | None = None) -> str:
    """Return one CSV cell; ``kind`` names the typed pattern of the column, if any."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "" if value != value else str(value)  # NaN is a missing value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} in a CSV cell; pass UTC"
            )
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()

    text = str(value)
    pattern = TYPED_PATTERNS.get(kind) if kind else None
    if pattern is not None and pattern.fullmatch(text):
        return text
    return neutralise_cell(text)


def csv_bytes(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    typed_columns: Mapping[str, str] = DEFAULT_TYPED_COLUMNS,
) -> bytes:
    """Render ``rows`` as UTF-8 CSV with LF line ends; other keys are dropped."""
    unknown = [kind for kind in typed_columns.values() if kind not in TYPED_PATTERNS]
    if unknown:
        raise ValueError(
            f"unknown typed column kinds {unknown}; use {sorted(TYPED_PATTERNS)}"
        )
    lines = [_csv_line(columns)]
    for row in rows:
        cells = [
            format_cell(row.get(column), typed_columns.get(column))
            for column in columns
        ]
        lines.append(_csv_line(cells))
    return "".join(lines).encode("utf-8")


def _csv_line(cells: Iterable[str]) -> str:
    """Join cells RFC 4180 style, quoting any cell with a comma, quote, CR or LF.

    The csv module with an LF line terminator leaves a lone CR unquoted (Python
    3.11), and a reader then splits the row there, so quoting is done here.
    """
    quoted = []
    for cell in cells:
        if any(char in cell for char in ',"\r\n'):
            cell = '"' + cell.replace('"', '""') + '"'
        quoted.append(cell)
    return ",".join(quoted) + "\n"


def write_partner_csv(
    folder: Path,
    partner_id: str,
    run_id: str,
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    typed_columns: Mapping[str, str] = DEFAULT_TYPED_COLUMNS,
) -> Path:
    """Write the one CSV drop of ``partner_id`` for ``run_id`` and return its path.

    The name is ``<partner_id>_<run_id>.csv``, so writing again for the same partner
    and run replaces that file as a whole instead of adding a second one. Callers
    pass every row of the run each time. ``columns`` is the partner's allowlist.
    """
    name = f"{_safe_part(partner_id, 'partner id')}_{_safe_part(run_id, 'run id')}.csv"
    return write_atomic(Path(folder) / name, csv_bytes(rows, columns, typed_columns))


def write_crm_assignments(
    folder: Path,
    run_id: str,
    rows: list[dict[str, Any]],
    fields: Sequence[str] = (),
    typed_columns: Mapping[str, str] = DEFAULT_TYPED_COLUMNS,
) -> Path:
    """Write ``crm_assignments_<run_id>.csv`` for a CRM import and return its path.

    Columns are lead_id, owner_id, partner_id, assigned_at, then ``fields``. Each row
    must already be limited to its partner's allowlist: a field listed here and
    present in a row is written.
    """
    columns = list(CRM_COLUMNS) + [name for name in fields if name not in CRM_COLUMNS]
    for index, row in enumerate(rows, start=1):
        missing = [name for name in CRM_COLUMNS if row.get(name) in (None, "")]
        if missing:
            raise ValueError(
                f"CRM assignment row {index} misses {missing}; every row needs "
                f"{list(CRM_COLUMNS)}"
            )
    name = f"crm_assignments_{_safe_part(run_id, 'run id')}.csv"
    return write_atomic(Path(folder) / name, csv_bytes(rows, columns, typed_columns))


class QueueFileError(ValueError):
    """A manual handoff queue file that cannot be read as JSON Lines."""


def append_manual_handoff(
    folder: Path, rows: list[dict[str, Any]], key: str = "transfer_id"
) -> Path:
    """Add rows to the JSON Lines queue ``manual_handoff.jsonl``; return its path.

    The queue is one file per partner that grows with every delivery. Delivery
    gives each row its ``run_id`` and ``handed_off_at``, which tell the rows of one
    run apart from older ones. A row whose ``key`` value is already in the file
    replaces that line in place. Writing the same transfers again after a crash
    therefore adds no duplicates, and the queue keeps only the fields of the latest
    write, so a field removed from the allowlist meanwhile is gone. The whole file
    is rewritten atomically, which costs time linear in its size.
    """
    path = Path(folder) / MANUAL_HANDOFF_FILE
    existing = path.read_bytes() if path.exists() else b""

    new_lines: dict[Any, str] = {}
    for index, row in enumerate(rows, start=1):
        value = row.get(key)
        if value in (None, ""):
            raise ValueError(
                f"manual handoff row {index} has no {key!r}; it is the dedup key"
            )
        new_lines.setdefault(value, _jsonl_line(row))

    lines = []
    replaced = set()
    for line_key, line in _jsonl_lines(existing, key, path):
        if line_key in new_lines:
            line = new_lines[line_key]
            replaced.add(line_key)
        lines.append(line)
    lines.extend(line for value, line in new_lines.items() if value not in replaced)

    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if data == existing and path.exists():
        return path
    return write_atomic(path, data)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a fsynced temp file and ``os.replace``.

    The file gets the permissions of any file this process creates, 0666 less the
    umask (0644 under the usual umask 022), so a pickup job running as another user
    can read it when the umask allows.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    handle, temp_name = _create_temp(path)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        failpoints.hit("after_csv_temp_write")
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    return path


def _create_temp(path: Path) -> tuple[int, str]:
    """Create an empty temp file beside ``path``; return its descriptor and name.

    ``tempfile.mkstemp`` always creates mode 0600. ``os.open`` with mode 0666 lets
    the kernel apply the umask (and a default ACL) at creation, so the file never
    exists with other permissions than the final ones.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(TEMP_NAME_TRIES):
        temp_name = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(temp_name, flags, 0o666), temp_name
        except FileExistsError:
            continue
    raise FileExistsError(
        f"no free temporary name for {path} after {TEMP_NAME_TRIES} tries; remove "
        f"the files named .{path.name}.*.tmp in {path.parent}"
    )


def describe_write_error(folder: Path, error: OSError) -> str:
    """Return why files cannot be written in the outbox ``folder``, and the fix.

    ``error`` is what creating ``folder`` or writing a file in it raised.
    """
    folder = Path(folder)
    blocker = nearest_entry(folder)
    if blocker is not None and not blocker.is_dir():
        return (
            f"outbox folder {folder} cannot be created because {blocker} is not a "
            "folder; move that file away, then the next run writes the files"
        )
    if isinstance(error, IsADirectoryError):
        target = error.filename2 or error.filename
        return (
            f"cannot write {target} because a folder has that name; move that "
            "folder away, then the next run writes the file"
        )
    if isinstance(error, PermissionError):
        if blocker == folder:
            where = f"outbox folder {folder} is not writable"
        else:
            where = (
                f"outbox folder {folder} cannot be created because {blocker} is "
                "not writable"
            )
        return (
            f"{where} for this user ({error.strerror}); fix its owner and mode, "
            "or remove the immutable flag (lsattr, chattr -i), then the next run "
            "writes the files"
        )
    return (
        f"cannot write in outbox folder {folder}: {error.strerror or error}; fix "
        "the folder or its disk (free space, a read-only mount), then the next run "
        "writes the files"
    )


def nearest_entry(folder: Path) -> Path | None:
    """Return ``folder`` or its nearest parent that exists, or None if none does."""
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return None


def _remove_stale_temps(path: Path) -> None:
    # NOTE: this assumes one writer per target file at a time (the run lock).
    # A concurrent writer's temp file for the same name would be removed here.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _safe_part(value: str, label: str) -> str:
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value):
        raise ValueError(
            f"{label} {value!r} cannot be used in a file name: use letters, digits, "
            "'.', '_' or '-' (at most 128, not starting with a dot)"
        )
    return value


# Characters that str.splitlines() and some other readers take for line ends,
# though a JSON Lines record ends at LF only. They are written escaped, so no
# reader splits a record. A queue written before may contain them raw, so reading
# splits at LF only.
_LINE_LIKE = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def _jsonl_line(row: dict[str, Any]) -> str:
    text = json.dumps(row, sort_keys=True, ensure_ascii=False, default=_json_default)
    return text.translate(_LINE_LIKE)


def _jsonl_lines(data: bytes, key: str, path: Path) -> list[tuple[Any, str]]:
    """Return (``key`` value, line) for each line of a queue file, which ends at LF.

    A blank line is returned with the key None, so it is kept as it is.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise QueueFileError(
            f"{path}, line {line}: the manual handoff queue is not UTF-8 text; "
            "repair that line or move the file away, then the next run writes the "
            "leads"
        ) from None
    if not text:
        return []
    parts = text.split("\n")
    if text.endswith("\n"):
        parts.pop()
    lines = []
    for number, line in enumerate(parts, start=1):
        if not line.strip():
            lines.append((None, line))
            continue
        try:
            lines.append((json.loads(line).get(key), line))
        except (json.JSONDecodeError, AttributeError) as exc:
            raise QueueFileError(
                f"{path}, line {number}: the manual handoff queue has a line that "
                "is not a JSON object; repair that line or move the file away, then "
                "the next run writes the leads"
            ) from exc
    return lines


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"value of type {type(value).__name__} has no JSON form")
