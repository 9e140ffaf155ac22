"""Read lead files (CSV or JSON Lines) into text-only frames and map them onto leads.

A file is rejected whole (:class:`IntakeError`) only when it cannot be read as a whole:
empty, binary or compressed, undecodable, ambiguous delimiter, duplicate headers, a
lone carriage return or a stray quote that merges lines into one record, or a record
count that does not match the rows parsed. Otherwise a bad record does not reject the
file. It becomes a row whose ``_problem`` column gives the reason, so it can be
quarantined, and every data record of the file is counted as one row.

Every value stays text (``"02134"`` keeps its leading zero, ``"1.250.000,50"`` stays
as written). Encoding and delimiter are detected explicitly and checked, never
guessed silently.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from leadshare import arrowtext
from leadshare.config import Profile
from leadshare.consent import parse_flag
from leadshare.errors import GateError, IntakeError
from leadshare.model import (
    LEAD_FIELDS,
    RECORD_COLUMN,
    ROW_COLUMN,
    SPACING_KEPT_FIELDS,
)
from leadshare.record_text import aligned_values
from leadshare.words import counted

log = logging.getLogger(__name__)

PROBLEM_COLUMN = "_problem"
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
DELIMITERS = (",", ";", "\t")
UTF8_BOM = b"\xef\xbb\xbf"

_SAMPLE_RECORDS = 200
_QUOTE = ord('"')
_NEWLINE = ord("\n")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


@dataclass
class RawBatch:
    """One lead file as read: every cell is text, nothing is mapped yet."""

    path: Path
    sha256: str
    encoding: str
    """``utf-8``, ``utf-8-sig`` (UTF-8 with a byte-order mark) or ``cp1252``."""
    delimiter: str | None
    """Field delimiter of a CSV file; None for JSON Lines."""
    header: list[str]
    """Column names as written in the file, after dropping an unnamed empty column."""
    rows: int
    """Data rows, malformed records included. The header, a ``sep=`` line and blank
    lines are not counted."""
    frame: pd.DataFrame
    """Columns ``header`` + ``_row`` (1-based int) + ``_problem`` (None or a reason),
    and ``_record`` (the record's text) when some row is malformed."""
    notes: list[str] = field(default_factory=list)
    """Repairs made while reading (dropped empty column, unwrapped rows)."""
    header_line: int = 1
    """Line of the header row: 2 when an Excel ``sep=`` line comes first."""


@dataclass
class _Records:
    """Byte spans of the CSV records in a file, found by counting quotes."""

    starts: np.ndarray
    ends: np.ndarray
    """Exclusive end of each record, before its newline."""
    lines: np.ndarray
    """Physical line number (1-based) on which each record starts."""
    last_lines: np.ndarray
    """Physical line number on which each record ends."""


def read_lead_file(path: Path) -> RawBatch:
    """Read a CSV or JSON Lines lead file into a :class:`RawBatch`.

    Raises IntakeError naming the file, the problem, the line where known and the fix.
    """
    path = Path(path)
    data = _read_bytes(path)
    # hashlib releases the GIL on large buffers, so the file is hashed in a thread
    # while it is parsed (0.2 s of a 300 MB file).
    with ThreadPoolExecutor(1) as pool:
        hashing = pool.submit(_sha256_hex, data)
        batch = _parse(data, path)
        batch.sha256 = hashing.result()
    problems = int(batch.frame[PROBLEM_COLUMN].notna().sum())
    log.info(
        "read %s: %s (%d malformed), encoding %s, delimiter %r",
        path.name,
        counted(batch.rows, "row"),
        problems,
        batch.encoding,
        batch.delimiter,
    )
    return batch


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse(raw_bytes: bytes, path: Path) -> RawBatch:
    """Decode and parse a file's bytes, leaving the batch's ``sha256`` empty."""
    encoding, data = _decode_to_utf8(raw_bytes, path)
    if path.suffix.lower() in JSONL_SUFFIXES:
        return _read_jsonl(data, path, encoding)
    try:
        return _read_csv(data, path, encoding)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise IntakeError(
                str(path),
                f"a field is longer than {MAX_FIELD_CHARS:,} characters",
                fix="Shorten or remove that field in the source (no lead field "
                "is this long), or check for an unclosed quote, and retry",
            ) from exc
        raise IntakeError(
            str(path), f"invalid CSV: {exc}", fix="Export the file again as CSV"
        ) from exc


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IntakeError(str(path), f"cannot read the file: {exc.strerror}") from exc
    jsonl = path.suffix.lower() in JSONL_SUFFIXES
    # A UTF-8 byte order mark alone, as some editors save an empty file, is empty.
    body = data.removeprefix(codecs.BOM_UTF8)
    if not body or body.isspace():
        raise IntakeError(
            str(path),
            "the file is empty",
            fix="Export the leads again, one JSON object per line"
            if jsonl
            else "Export the leads again with a header row",
        )
    _check_compressed(data, path)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IntakeError(
            str(path),
            "the file is UTF-16 encoded",
            fix="Save it as UTF-8 and retry"
            if jsonl
            else "Save it as UTF-8 CSV and retry",
        )
    if b"\n" not in data and b"\r" in data.rstrip(b"\r"):
        raise IntakeError(
            str(path),
            "lines end with a carriage return (CR) only, as in classic Mac OS files",
            fix="Save the file with LF or CRLF line ends and import it again",
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        byte_order = _utf16_byte_order(data)
        if byte_order is not None:
            raise IntakeError(
                str(path),
                f"the file looks like UTF-16 ({byte_order}) text without a "
                "byte-order mark: every other byte is NUL",
                fix="Save it as UTF-8 and import it again"
                if jsonl
                else "Save it as UTF-8 (CSV UTF-8 in Excel) and import it again",
            )
        raise IntakeError(
            str(path),
            f"the file is binary (NUL byte at byte offset {nul}), not CSV or "
            "JSON Lines",
            line=_line_of(data, nul),
            fix="Export the leads again as JSON Lines (UTF-8) and import that file"
            if jsonl
            else "Export the sheet as CSV (UTF-8) and import that file",
        )
    control = _binary_control_byte(data)
    if control is not None:
        raise IntakeError(
            str(path),
            f"the file is binary (control byte 0x{data[control]:02X} at byte offset "
            f"{control}, and many more in its first {_BINARY_SAMPLE_BYTES:,} "
            "bytes), not CSV or JSON Lines",
            line=_line_of(data, control),
            fix="Export the leads again as JSON Lines (UTF-8) and import that file"
            if jsonl
            else "Export the sheet as CSV (UTF-8) and import that file",
        )
    return data


_BINARY_SAMPLE_BYTES = 65536
_BINARY_CONTROL_SHARE = 0.01
_BINARY_CONTROL_MIN = 8
_TEXT_CONTROL_BYTES = (0x09, 0x0A, 0x0D)


def _binary_control_byte(data: bytes) -> int | None:
    """Return the offset of the first control byte if ``data`` looks binary, else None.

    Text files contain no C0 control bytes other than tab and line ends. An exported
    sheet may contain one stray byte, such as 0x1A at the end. In a binary file
    without NUL bytes, such as an image or encrypted data, about one byte in ten is
    a control byte.
    The check reads the first _BINARY_SAMPLE_BYTES bytes and needs both a share
    and a count, so that a short file with one stray byte still reads as text.
    """
    sample = np.frombuffer(data[:_BINARY_SAMPLE_BYTES], dtype=np.uint8)
    control = (sample < 0x20) & ~np.isin(sample, _TEXT_CONTROL_BYTES)
    count = int(control.sum())
    if count < _BINARY_CONTROL_MIN or count < _BINARY_CONTROL_SHARE * len(sample):
        return None
    return int(np.argmax(control))


_UNPACK_FIX = "Decompress it ({tool}) and import the CSV or JSON Lines file inside"

_COMPRESSED_FORMATS = (
    (re.compile(rb"\x1f\x8b"), "gzip-compressed", _UNPACK_FIX.format(tool="gunzip")),
    (
        re.compile(rb"PK(\x03\x04|\x05\x06|\x07\x08)"),
        "a ZIP archive",
        "Unpack it and import the CSV or JSON Lines file inside. An Excel workbook "
        "(.xlsx) is a ZIP archive too: export its sheet as CSV (UTF-8) instead",
    ),
    (
        re.compile(rb"BZh[1-9]1AY&SY"),
        "bzip2-compressed",
        _UNPACK_FIX.format(tool="bunzip2"),
    ),
    (re.compile(rb"\xfd7zXZ\x00"), "xz-compressed", _UNPACK_FIX.format(tool="unxz")),
    (
        re.compile(rb"\x28\xb5\x2f\xfd"),
        "zstd-compressed",
        _UNPACK_FIX.format(tool="unzstd"),
    ),
)
"""Magic numbers that start compressed files, the format's name and the fix."""


def _check_compressed(data: bytes, path: Path) -> None:
    """Reject a compressed file with its format's name, not just as binary."""
    for magic, kind, fix in _COMPRESSED_FORMATS:
        if magic.match(data):
            raise IntakeError(
                str(path), f"the file is {kind}, not CSV or JSON Lines text", fix=fix
            )


_UTF16_SAMPLE_BYTES = 4096


def _utf16_byte_order(data: bytes) -> str | None:
    """Return "little-endian" or "big-endian" if ``data`` looks like UTF-16, else None.

    Latin-script UTF-16 text has a NUL high byte in almost every character, so NUL
    fills one byte position of each pair and almost never the other. The check
    reads the first _UTF16_SAMPLE_BYTES bytes. Text mostly outside Latin-1 (Greek,
    Cyrillic, CJK) has few NUL bytes and is reported as binary instead.
    """
    sample = np.frombuffer(data[: _UTF16_SAMPLE_BYTES & ~1], dtype=np.uint8)
    if len(sample) < 4:
        return None
    even_nul = float(np.mean(sample[0::2] == 0))
    odd_nul = float(np.mean(sample[1::2] == 0))
    if odd_nul >= 0.9 and even_nul <= 0.1:
        return "little-endian"
    if even_nul >= 0.9 and odd_nul <= 0.1:
        return "big-endian"
    return None


def _decode_to_utf8(data: bytes, path: Path) -> tuple[str, bytes]:
    """Detect the encoding and return it with the content as UTF-8 without a BOM.

    The order is UTF-8 with BOM, UTF-8, then strict Windows-1252. Windows-1252 leaves
    five byte values undefined, so a file that fails both is rejected whole.
    """
    if data.startswith(UTF8_BOM):
        body = data[len(UTF8_BOM) :]
        _check_utf8(body, path, offset=len(UTF8_BOM), whole=data)
        return "utf-8-sig", body
    if _is_utf8(data):
        return "utf-8", data
    # Arrow rejected the data. Python's decoder decides and names the first bad byte.
    try:
        data.decode("utf-8")
        return "utf-8", data
    except UnicodeDecodeError as utf8_error:
        multibyte = _UTF8_MULTIBYTE.search(data)
        if multibyte is not None:
            raise _mixed_encoding_error(path, data, utf8_error, multibyte.start())
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as cp1252_error:
            raise _encoding_error(
                path, data, utf8_error, cp1252_error
            ) from cp1252_error
    return "cp1252", text.encode("utf-8")


def _is_utf8(data: bytes) -> bool:
    """Tell whether ``data`` is valid UTF-8, without building a str.

    Arrow validates a binary value as it casts it to a string, about ten times as
    fast as bytes.decode on text with accents (0.16 against 1.8 s for 320 MB). The
    caller decodes with Python only to find where invalid text starts.
    """
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    value = pa.Array.from_buffers(
        pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)]
    )
    try:
        value.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
"""A UTF-8 encoded non-ASCII character. Windows-1252 text almost never contains
one, because its accented letters are single bytes followed by ASCII."""


def _mixed_encoding_error(
    path: Path, data: bytes, utf8_error: UnicodeDecodeError, utf8_offset: int
) -> IntakeError:
    """Reject a file whose UTF-8 text has some bytes from another encoding.

    Decoding it all as Windows-1252 would garble every UTF-8 character (é becomes
    Ã©), and guessing per line could garble the other lines.
    """
    bad = utf8_error.start
    return IntakeError(
        str(path),
        f"encoding problem: the file mixes encodings. Line {_line_of(data, utf8_offset)} "
        f"is UTF-8, but byte 0x{data[bad]:02X} at byte offset {bad} is not valid "
        "UTF-8 (text pasted from a Windows-1252 or Latin-1 source?)",
        line=_line_of(data, bad),
        fix="Correct that line, or re-export the whole file as UTF-8, and import it again",
    )


def _check_utf8(body: bytes, path: Path, offset: int, whole: bytes) -> None:
    if _is_utf8(body):
        return
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        position = exc.start + offset
        raise IntakeError(
            str(path),
            f"encoding problem: the file starts with a UTF-8 byte-order mark but byte "
            f"0x{whole[position]:02X} at byte offset {position} is not valid UTF-8",
            line=_line_of(whole, position),
            fix="Re-export the file as UTF-8",
        ) from exc


def _encoding_error(
    path: Path,
    data: bytes,
    utf8_error: UnicodeDecodeError,
    cp1252_error: UnicodeDecodeError,
) -> IntakeError:
    first, second = utf8_error.start, cp1252_error.start
    return IntakeError(
        str(path),
        f"encoding problem: byte 0x{data[first]:02X} at byte offset {first} is not "
        f"valid UTF-8, and byte 0x{data[second]:02X} on line "
        f"{_line_of(data, second)} is undefined in Windows-1252",
        line=_line_of(data, first),
        fix="Re-export the file as UTF-8 (CSV UTF-8 in Excel) and import it again",
    )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _read_csv(data: bytes, path: Path, encoding: str) -> RawBatch:
    records = _find_records(data, path)
    declared, records = _skip_sep_line(data, records, path)
    _check_data_rows(data, records, path)
    header_line = int(records.lines[0])
    header_text = _record_text(data, records, 0)
    delimiter, trailing = _choose_delimiter(
        data, records, header_text, path, declared
    )
    header = _parse_line(header_text, delimiter)
    notes = []
    if declared is not None:
        sep_line = f"sep={declared}"
        notes.append(
            f"skipped line 1 ({sep_line!r}): it declares the delimiter for Excel "
            "and is not a data row"
        )
    if trailing == "header":
        header = header[:-1]
        notes.append(
            "ignored the empty field at the end of the header row: the header "
            "ends with an extra delimiter and the data rows do not"
        )
    elif trailing == "rows":
        _check_trailing_delimiter_rows(data, records, len(header), delimiter, path)
        header = [*header, ""]
    drop_last = _check_header(header, path, header_line)
    _check_multiline_records(data, records, header, delimiter, path)

    frame = _parse_uniform(data, records, header, delimiter)
    if frame is None:
        counts = _field_counts(data, records, delimiter)
        ragged = np.flatnonzero(counts[1:] != len(header)) + 1
        _check_ragged_share(ragged, len(records.starts) - 1, len(header), path)
        frame, parse_notes = _parse_records(
            data, records, ragged, header, delimiter, path
        )
        notes.extend(parse_notes)
    _mark_repeated_headers(frame, header, records)
    if drop_last:
        frame, header = _drop_empty_last_column(frame, header, path, header_line)
        if trailing == "rows":
            notes.append(
                f"dropped the empty field after column {len(header)} on every row: "
                "the data rows end with an extra delimiter and the header does not"
            )
        else:
            notes.append(
                f"dropped column {len(header) + 1}: no header name and empty on "
                "every row"
            )
    rows = len(records.starts) - 1
    return RawBatch(
        path, "", encoding, delimiter, header, rows, frame, notes, header_line
    )


_SEP_LINE = re.compile(r'(")?sep=(?P<delimiter>.)(?(1)")', re.IGNORECASE)
"""Excel's first line naming the delimiter, such as ``sep=;``; a tool that quotes
every cell writes ``"sep=;"``."""


def _skip_sep_line(
    data: bytes, records: _Records, path: Path
) -> tuple[str | None, _Records]:
    """Return the delimiter that a ``sep=`` first line declares, and the other records.

    Excel writes this line to set the delimiter when it opens the file. It is not a
    header or a data row. Without such a line, return (None, records).
    """
    first = _record_text(data, records, 0)
    match = _SEP_LINE.fullmatch(first.strip(" "))
    if match is None or records.lines[0] != 1:
        return None, records
    declared = match.group("delimiter")
    if declared not in DELIMITERS:
        raise IntakeError(
            str(path),
            f"line 1 ({first!r}) declares the delimiter {declared!r}, which is not "
            "supported",
            line=1,
            fix="Export the file with a comma, semicolon or tab as the delimiter",
        )
    rest = _Records(
        starts=records.starts[1:],
        ends=records.ends[1:],
        lines=records.lines[1:],
        last_lines=records.last_lines[1:],
    )
    if not len(rest.starts):
        raise IntakeError(
            str(path),
            f"the file contains only the line {first!r}, no header or data rows",
            line=1,
            fix="Export the file again with its header and data rows",
        )
    return declared, rest


def _check_data_rows(data: bytes, records: _Records, path: Path) -> None:
    if len(records.starts) < 2:
        # One line that is a lead: the file has no header, not no data rows.
        text = _record_text(data, records, 0)
        cells = re.split("|".join(map(re.escape, DELIMITERS)), text)
        _check_not_data([cell.strip() for cell in cells], path, int(records.lines[0]))
        raise IntakeError(
            str(path),
            "the file has a header but no data rows",
            line=int(records.lines[0]),
            fix="Export the file again with its data rows",
        )


def _parse_uniform(
    data: bytes, records: _Records, header: list[str], delimiter: str
) -> pd.DataFrame | None:
    """Parse a file whose records all have the header's field count, else None.

    pyarrow rejects a record with another field count. So when it parses every data
    record and reads one row per record, no record is ragged, and the two scans that
    count each record's fields are skipped (about 2 s at 1M leads). Otherwise the
    caller counts fields and handles the ragged records.
    """
    expected = len(records.starts) - 1
    if not expected:
        return None
    try:
        frame = _read_csv_arrow(
            memoryview(data)[int(records.ends[0]) + 1 :], len(header), delimiter
        )
    except pa.ArrowInvalid:
        return None
    if len(frame) != expected:
        return None
    frame.columns = header
    frame[ROW_COLUMN] = np.arange(1, expected + 1)
    frame[PROBLEM_COLUMN] = None
    return frame


def _find_records(data: bytes, path: Path) -> _Records:
    """Split the file into CSV records: a newline ends a record unless it is quoted.

    A newline is quoted when an odd number of quote characters precede it. Blank
    records (only spaces and CR) are dropped, as the parser skips them too. A stray
    quote inside an unquoted value (5'10") shifts every later record. With an odd
    number of quotes in the file this raises here. With an even number,
    :func:`_check_multiline_records` rejects the file once the delimiter is known.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = _positions(buffer, _NEWLINE)
    quotes_before, quotes = _quotes_before(buffer, newlines)
    _check_lone_carriage_returns(data, buffer, path)
    if quotes % 2:
        raise _unclosed_quote_error(data, buffer, newlines, quotes_before, path)
    terminators = newlines[quotes_before % 2 == 0]
    ends = terminators
    if len(data) > (int(terminators[-1]) + 1 if len(terminators) else 0):
        ends = np.append(terminators, len(data))
    starts = np.concatenate(([0], terminators + 1))[: len(ends)]
    keep = ~_blank_records(data, starts, ends)
    starts, ends = starts[keep], ends[keep]
    lines = np.searchsorted(newlines, starts) + 1
    last_lines = np.searchsorted(newlines, ends) + 1
    return _Records(starts=starts, ends=ends, lines=lines, last_lines=last_lines)


def _unclosed_quote_error(
    data: bytes,
    buffer: np.ndarray,
    newlines: np.ndarray,
    quotes_before: np.ndarray,
    path: Path,
) -> IntakeError:
    """Return the error that names where the value left open at the end starts.

    Read from the top, that value starts at the first quote after the last newline
    outside quotes. A stray quote earlier (5'10") shifts the reading, so the first
    line with an odd number of quotes is named too when it comes before.
    """
    balanced = newlines[quotes_before % 2 == 0]
    record_start = int(balanced[-1]) + 1 if len(balanced) else 0
    open_line = int(np.searchsorted(newlines, data.find(b'"', record_start))) + 1
    first_odd_line = _first_odd_quote_line(buffer, newlines)
    reason = (
        "a quoted value is never closed (odd number of quote characters). Read from "
        "the top, the quoted value that is still open at the end of the file starts "
        "on this line; a cut download, or a stray quote in an unquoted value (such "
        "as 5'10\"), is the usual cause"
    )
    if first_odd_line < open_line:
        reason += (
            f". If this line is right, look for a stray quote from line "
            f"{first_odd_line}, the first line with an odd number of quotes (a "
            "quoted value over several lines has such lines too)"
        )
    return IntakeError(
        str(path),
        reason,
        line=open_line,
        fix="Export or download the file again if it was cut, or close the quote or "
        "double any quote character inside a quoted value",
    )


def _check_lone_carriage_returns(data: bytes, buffer: np.ndarray, path: Path) -> None:
    """Reject a file with an unquoted carriage return (CR) not followed by a line feed.

    The CSV parsers end a line at such a CR but the record count here does not, so
    two rows would be read as one record (or one value split in two). The file is
    rejected rather than guessing which was meant. A CR inside a quoted value is
    kept, and CR CR LF or a CR at the end of the file is a harmless line end.
    """
    returns = _positions(buffer, ord("\r"))
    if not len(returns):
        return
    following = np.minimum(returns + 1, len(buffer) - 1)
    lone = returns[
        (returns + 1 < len(buffer))
        & (buffer[following] != _NEWLINE)
        & (buffer[following] != ord("\r"))
    ]
    if not len(lone):
        return
    quotes, _ = _quotes_before(buffer, lone)
    unquoted = lone[quotes % 2 == 0]
    if not len(unquoted):
        return
    position = int(unquoted[0])
    line = _line_of(data, position)
    line_start = data.rfind(b"\n", 0, position) + 1
    column = len(data[line_start:position].decode("utf-8", "replace")) + 1
    raise IntakeError(
        str(path),
        f"a carriage return without a line feed (a lone CR) is at character "
        f"{column} of this line, and the file has {len(unquoted)} such CR outside "
        "quotes. CSV parsers end a row at a lone CR, so two rows would be read as "
        "one record or one value split in two",
        line=line,
        fix="Replace the lone CR with the line end the other lines use, or remove "
        "it if it is inside a value, and import the file again",
    )


def _first_odd_quote_line(buffer: np.ndarray, newlines: np.ndarray) -> int:
    """Return the first 1-based line with an odd number of quote characters."""
    before, _ = _quotes_before(buffer, np.append(newlines, len(buffer)))
    per_line = np.diff(before, prepend=0)
    odd = np.flatnonzero(per_line % 2)
    return int(odd[0]) + 1 if len(odd) else len(per_line)


def _blank_records(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    blank = ends == starts
    for index in np.flatnonzero((ends - starts <= 8) & ~blank):
        blank[index] = not data[starts[index] : ends[index]].strip(b" \r")
    return blank


def _record_text(data: bytes, records: _Records, index: int) -> str:
    return (
        data[records.starts[index] : records.ends[index]].decode("utf-8").rstrip("\r")
    )


# Python's csv module rejects fields over 128 KiB by default; notes exported from a
# CRM can be longer. The limit is process-wide, so leadshare sets it once here.
MAX_FIELD_CHARS = 16 * 1024 * 1024
csv.field_size_limit(MAX_FIELD_CHARS)


def _parse_line(text: str, delimiter: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return [value for row in rows for value in row] if len(rows) > 1 else rows[0]


def _choose_delimiter(
    data: bytes,
    records: _Records,
    header_text: str,
    path: Path,
    declared: str | None = None,
) -> tuple[str, str | None]:
    """Pick the delimiter that splits the header and the first records alike.

    A candidate must split the header into two or more fields, and at least half of
    the sampled records must have the same field count as the header. Only the
    ``declared`` delimiter (from a ``sep=`` line) is tried when one is given.

    Returns the delimiter and where an extra delimiter ends the lines: None when
    header and rows agree, "header" when only the header row ends with one, "rows"
    when only the data rows do (see :func:`_trailing_delimiter`).
    """
    sample = [
        _record_text(data, records, i)
        for i in range(1, min(len(records.starts), _SAMPLE_RECORDS + 1))
    ]
    header_line = int(records.lines[0])
    scores = {}
    for delimiter in (declared,) if declared else DELIMITERS:
        width = len(_parse_line(header_text, delimiter))
        widths = [len(_parse_line(text, delimiter)) for text in sample]
        scores[delimiter] = (
            width,
            sum(w == width for w in widths) / len(widths),
            widths,
        )
    candidates = [d for d in scores if scores[d][0] >= 2 and scores[d][1] >= 0.5]
    if candidates:
        return max(candidates, key=lambda d: (scores[d][1], scores[d][0])), None
    for delimiter in scores:
        trailing = _trailing_delimiter(header_text, sample, delimiter)
        if trailing is not None:
            return delimiter, trailing
    if declared:
        return _check_declared(declared, scores[declared], header_text, path), None
    if all(score[0] == 1 for score in scores.values()):
        _check_unsupported_delimiter(header_text, sample, path, header_line)
        return _check_single_column(scores, path, header_line), None
    raise _delimiter_error(scores, path, header_line)


def _trailing_delimiter(
    header_text: str, sample: list[str], delimiter: str
) -> str | None:
    """Tell whether only the header or only the data rows end with ``delimiter``.

    Returns "header" when the header ends with it and at least half of the sampled
    rows have one field fewer than the header, "rows" when at least half of them end
    with it and have one field more, else None. The header must name two or more
    columns either way.
    """
    width = len(_parse_line(header_text, delimiter))
    if header_text.endswith(delimiter) and width - 1 >= 2:
        shorter = sum(len(_parse_line(text, delimiter)) == width - 1 for text in sample)
        if shorter * 2 >= len(sample):
            return "header"
    if width >= 2 and not header_text.endswith(delimiter):
        longer = sum(
            text.endswith(delimiter) and len(_parse_line(text, delimiter)) == width + 1
            for text in sample
        )
        if longer * 2 >= len(sample):
            return "rows"
    return None


def _check_trailing_delimiter_rows(
    data: bytes, records: _Records, width: int, delimiter: str, path: Path
) -> None:
    """Check that every data row has ``width`` fields plus an empty one at its end.

    Then the extra field is a trailing delimiter and can be dropped. If any row
    differs, the rows cannot be matched to the header safely and the file is
    rejected.
    """
    counts = _field_counts(data, records, delimiter)[1:]
    buffer = np.frombuffer(data, dtype=np.uint8)
    last = records.ends[1:] - 1
    last -= buffer[last] == ord("\r")
    ends_with_delimiter = buffer[last] == ord(delimiter)
    bad = np.flatnonzero((counts != width + 1) | ~ends_with_delimiter)
    if not len(bad):
        return
    line = int(records.lines[bad[0] + 1])
    raise IntakeError(
        str(path),
        f"the data rows end with an extra {_DELIMITER_NAMES[delimiter]} "
        f"({width + 1} fields) but the header row does not ({width} fields). "
        f"{len(bad)} of {len(counts)} data rows do not end that way (first: line "
        f"{line}), so their fields cannot be matched to the header safely",
        line=line,
        fix="Remove the delimiter at the end of the data rows, or add one at the end "
        "of the header row, so every line has the same number of fields",
    )


def _check_declared(
    declared: str, score: tuple[int, float, list[int]], header_text: str, path: Path
) -> str:
    """Return the declared delimiter of a one-column file, else raise IntakeError.

    The caller found that the declared delimiter does not split the header and the
    rows alike. A header that it leaves whole, but another delimiter splits, shows
    that the ``sep=`` line is wrong.
    """
    width, share, widths = score
    name = f"the {_DELIMITER_NAMES[declared]} ({declared!r})"
    if width == 1:
        for other in DELIMITERS:
            if len(_parse_line(header_text, other)) >= 2:
                raise IntakeError(
                    str(path),
                    f"line 1 declares {name} as the delimiter, but the header "
                    f"splits on the {_DELIMITER_NAMES[other]} ({other!r}) instead",
                    line=1,
                    fix="Correct or delete the sep= line and import the file again",
                )
        if share == 1:
            return declared
    raise IntakeError(
        str(path),
        f"line 1 declares {name} as the delimiter, but with it the header has "
        f"{width} fields and {share:.0%} of the first {len(widths)} rows match",
        line=1,
        fix="Correct or delete the sep= line, or use that delimiter in the header "
        "and the rows",
    )


_UNSUPPORTED_DELIMITERS = {"|": "vertical bar", ":": "colon"}
"""Delimiters some exports use that leadshare does not read, by name."""


def _check_unsupported_delimiter(
    header_text: str, sample: list[str], path: Path, header_line: int
) -> None:
    """Reject a one-column reading when the lines split on a delimiter we do not read.

    A header such as ``email|name|country`` is one column for the comma, semicolon
    and tab. Without this check the file would be rejected for missing columns,
    and the reason would not name the delimiter.
    """
    for delimiter, name in _UNSUPPORTED_DELIMITERS.items():
        width = len(_parse_line(header_text, delimiter))
        if width < 2:
            continue
        widths = [len(_parse_line(text, delimiter)) for text in sample]
        if widths and sum(w == width for w in widths) * 2 >= len(widths):
            raise IntakeError(
                str(path),
                f"the header and the rows are delimited by the {name} ({delimiter!r}, "
                f"{width} columns), which leadshare does not read",
                line=header_line,
                fix="Export the file again with commas, semicolons or tabs between "
                "the fields",
            )


def _check_single_column(scores: dict, path: Path, header_line: int) -> str:
    for delimiter, (_, _, widths) in scores.items():
        if sum(w >= 2 for w in widths) / len(widths) >= 0.5:
            raise IntakeError(
                str(path),
                f"the header has a single column but most rows split on the "
                f"{_DELIMITER_NAMES[delimiter]} ({delimiter!r})",
                line=header_line,
                fix="Use the same delimiter in the header and the rows",
            )
    return ","


def _delimiter_error(scores: dict, path: Path, header_line: int) -> IntakeError:
    seen = "; ".join(
        f"{_DELIMITER_NAMES[d]}: header {width} fields, "
        f"{share:.0%} of the first {len(widths)} rows match"
        for d, (width, share, widths) in scores.items()
        if width >= 2
    )
    return IntakeError(
        str(path),
        f"no delimiter splits the header and the rows alike ({seen})",
        line=header_line,
        fix="Use one delimiter (comma, semicolon or tab) in the header and the rows",
    )


def _check_header(header: list[str], path: Path, line: int) -> bool:
    """Reject unusable column names and return True if the last column is unnamed.

    An unnamed last column is allowed (a trailing delimiter on every line) and is
    dropped later if it contains no values.
    """
    names = [name.strip() for name in header]
    _check_not_data(names, path, line)
    drop_last = len(names) > 1 and names[-1] == ""
    _check_names(names[:-1] if drop_last else names, len(header), path, line)
    return drop_last


_EMAIL_LIKE_CELL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NUMBER_LIKE_CELL = re.compile(r"\+?(?:[\s().:/-]*\d){6,}[\s().:/-]*")
"""A cell of six or more digits and separators only: a phone number, a date, an id."""


def _check_not_data(names: list[str], path: Path, line: int) -> None:
    """Reject a header row that contains an e-mail address or a phone-like number.

    Such a line is a lead, and the file has no header row. The error quotes no
    cell, because the cells are personal data and the reason goes to logs, the
    store and the quarantine folder.
    """
    for position, name in enumerate(names, start=1):
        if _EMAIL_LIKE_CELL.search(name) or _NUMBER_LIKE_CELL.fullmatch(name):
            kind = "an e-mail address" if "@" in name else "a number of 6+ digits"
            raise IntakeError(
                str(path),
                f"line {line} looks like a lead, not a header row: column "
                f"{position} of {len(names)} contains {kind}, which no column name "
                "does. The file seems to have no header row",
                line=line,
                fix="Add a first line with the column names (as the source "
                "profile lists them under 'columns') and import the file again",
            )


def _check_names(names: list[str], width: int, path: Path, line: int = 1) -> None:
    """Reject empty, reserved and duplicate names, ignoring spaces and case."""
    seen: dict[str, str] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise IntakeError(
                str(path),
                f"column {position} of {width} has no header name",
                line=line,
                fix="Name the column in the header row or delete the column",
            )
        key = name.strip().casefold()
        if key in (ROW_COLUMN, PROBLEM_COLUMN, RECORD_COLUMN):
            raise IntakeError(
                str(path),
                f"column name {name!r} is reserved for the row number, problem and "
                "record text",
                line=line,
                fix="Rename the column",
            )
        if key in seen:
            raise IntakeError(
                str(path),
                f"duplicate column name {name!r} (also {seen[key]!r}), comparing "
                "names without surrounding spaces and letter case",
                line=line,
                fix="Rename or remove one of the two columns",
            )
        seen[key] = name


def _field_counts(data: bytes, records: _Records, delimiter: str) -> np.ndarray:
    """Count the fields of every record: one more than its unquoted delimiters.

    A delimiter is quoted when an odd number of quote characters precede it.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    # Records do not overlap, so starts and ends merge into one sorted array and
    # the file is scanned once.
    offsets = np.column_stack((records.starts, records.ends)).ravel()
    counts = _count_before(buffer, offsets, ord(delimiter)).reshape(-1, 2)
    return counts[:, 1] - counts[:, 0] + 1


_SCAN_BYTES = 1 << 23
"""Bytes scanned per step by _count_before.

Its temporary arrays take about 15 times this (estimated from their types).
"""


def _positions(buffer: np.ndarray, byte: int) -> np.ndarray:
    """Return the offsets of ``byte`` in ``buffer``, in steps of _SCAN_BYTES.

    One comparison over the whole file would allocate a mask of the file's size:
    0.55 s for 320 MB against 0.07 s in steps (page faults of the mask).
    """
    parts = [
        np.flatnonzero(buffer[start : start + _SCAN_BYTES] == byte) + start
        for start in range(0, len(buffer), _SCAN_BYTES)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)


def _quotes_before(buffer: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, int]:
    """Count the quote characters before each sorted offset, and in the whole file.

    Each step finds its quotes' positions and binary-searches the offsets among
    them, which takes about half the time of a running sum over every byte.
    """
    counts = np.zeros(len(offsets), dtype=np.int64)
    total = 0
    for start in range(0, len(buffer), _SCAN_BYTES):
        chunk = buffer[start : start + _SCAN_BYTES]
        quotes = np.flatnonzero(chunk == _QUOTE)
        first, last = np.searchsorted(offsets, [start, start + len(chunk)])
        counts[first:last] = total + np.searchsorted(quotes, offsets[first:last] - start)
        total += len(quotes)
    counts[offsets >= len(buffer)] = total
    return counts, total


def _count_before(
    buffer: np.ndarray, offsets: np.ndarray, delimiter: int | None
) -> np.ndarray:
    """Count, for each sorted byte offset, the bytes before it of one kind.

    With ``delimiter`` None the quote characters are counted, otherwise the
    delimiters outside quotes. The file is scanned in steps of _SCAN_BYTES, so no
    array of the file's size is built.
    """
    counts = np.zeros(len(offsets), dtype=np.int64)
    quotes_before = counted_before = 0
    for start in range(0, len(buffer), _SCAN_BYTES):
        chunk = buffer[start : start + _SCAN_BYTES]
        quotes = np.cumsum(chunk == _QUOTE, dtype=np.int32)
        if delimiter is None:
            running = quotes
        else:
            # A delimiter is not a quote, so quotes[i] counts the quotes before it.
            outside = (quotes & 1) == (quotes_before & 1)
            running = np.cumsum((chunk == delimiter) & outside, dtype=np.int32)
        first, last = np.searchsorted(offsets, [start, start + len(chunk)])
        local = offsets[first:last] - start
        inside = np.where(local > 0, running[local - 1], 0)
        counts[first:last] = counted_before + inside
        quotes_before += int(quotes[-1])
        counted_before += int(running[-1])
    counts[offsets >= len(buffer)] = counted_before
    return counts


def _check_ragged_share(
    ragged: np.ndarray, data_records: int, width: int, path: Path
) -> None:
    if data_records >= 10 and len(ragged) * 2 > data_records:
        raise IntakeError(
            str(path),
            f"{len(ragged)} of {data_records} rows do not have the {width} fields "
            "of the header, so the file is not consistently delimited",
            fix="Check the delimiter and quoting of the export",
        )


def _parse_records(
    data: bytes,
    records: _Records,
    ragged: np.ndarray,
    header: list[str],
    delimiter: str,
    path: Path,
) -> tuple[pd.DataFrame, list[str]]:
    """Parse all data records; the ragged ones become unwrapped rows or problem rows."""
    data_count = len(records.starts) - 1
    good = _parse_good_records(data, records, ragged, len(header), delimiter, path)
    is_good = np.ones(data_count + 1, dtype=bool)
    is_good[0] = False
    is_good[ragged] = False
    good_rows = np.flatnonzero(is_good)
    good.columns = header
    good[ROW_COLUMN] = good_rows
    good[PROBLEM_COLUMN] = None
    if not len(ragged):
        return good, []

    last = good.iloc[:, len(header) - 1]
    last_filled = bool((last.notna() & (last != "")).any())
    bad_rows, unwrapped = _parse_ragged_records(
        data, records, ragged, header, delimiter, last_filled
    )
    # Problem rows hold None, so the Arrow columns become plain objects here.
    good = good.astype(dict.fromkeys(header, object))
    if RECORD_COLUMN in bad_rows.columns:
        good[RECORD_COLUMN] = None
    frame = pd.concat([good, bad_rows], ignore_index=True)
    frame = frame.sort_values(ROW_COLUMN, kind="stable", ignore_index=True)
    notes = []
    if unwrapped:
        notes.append(
            f"unwrapped {unwrapped} rows that were quoted as a whole line, because "
            f"each then had the {len(header)} fields of the header"
        )
    return frame, notes


def _parse_good_records(
    data: bytes,
    records: _Records,
    ragged: np.ndarray,
    width: int,
    delimiter: str,
    path: Path,
) -> pd.DataFrame:
    """Parse the records with the header's field count in one pass of the C parser."""
    body_start = int(records.ends[0]) + 1
    if len(ragged):
        pieces, position = [], body_start
        for index in ragged:
            pieces.append(data[position : records.starts[index]])
            position = int(records.ends[index]) + 1
        pieces.append(data[position:])
        body = b"".join(pieces)
    else:
        body = data[body_start:]
    expected = len(records.starts) - 1 - len(ragged)
    frame = _read_csv_text(body, width, delimiter) if expected else _empty_frame(width)
    if len(frame) != expected:
        # _check_lone_carriage_returns and _check_multiline_records reject the
        # known causes first, so this is a last safeguard.
        raise IntakeError(
            str(path),
            f"counted {expected} well-formed records but the CSV parser read "
            f"{len(frame)} rows, so rows would be lost or invented; the first "
            "record that spans several lines starts here",
            line=_first_multiline_record(records),
            fix="Look for a quote character inside an unquoted value, fix the "
            "export and import again",
        )
    return frame


def _read_csv_text(body: bytes, width: int, delimiter: str) -> pd.DataFrame:
    """Parse CSV records into text columns named 0 .. width - 1.

    pyarrow's reader is used first: at 1M leads (pyarrow 26, 2 cores) it took 5 s
    where pandas' C parser took 10 s, with equal frames. It rejects lines of only
    spaces, which the C parser skips, so such a body is parsed again by pandas.
    """
    try:
        return _read_csv_arrow(body, width, delimiter)
    except pa.ArrowInvalid:
        return _read_csv_pandas(body, width, delimiter)


def _read_csv_arrow(
    body: bytes | memoryview, width: int, delimiter: str
) -> pd.DataFrame:
    names = [str(i) for i in range(width)]
    table = pa_csv.read_csv(
        pa.py_buffer(body),
        read_options=pa_csv.ReadOptions(column_names=names),
        parse_options=pa_csv.ParseOptions(
            delimiter=delimiter,
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,
            ignore_empty_lines=True,
        ),
        convert_options=pa_csv.ConvertOptions(
            # large_string is what pandas keeps: reading pa.string() cost a cast
            # of every column in to_pandas (0.6-1.0 s at 1M leads, 2 cores).
            column_types=dict.fromkeys(names, pa.large_string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    # Columns stay in Arrow memory (string[pyarrow]) until apply_profile maps them:
    # converting every cell to a Python str took 3.6 s and ~1 GB at 1M leads.
    frame = table.to_pandas(types_mapper=_ARROW_STRINGS.get)
    frame.columns = range(width)
    # pyarrow's allocator keeps freed pages for reuse: ~320 MB of RSS at 1M leads.
    pa.default_memory_pool().release_unused()
    return frame


_ARROW_STRINGS = {pa.large_string(): pd.StringDtype("pyarrow")}


def _read_csv_pandas(body: bytes, width: int, delimiter: str) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(body),
        sep=delimiter,
        header=None,
        names=list(range(width)),
        dtype=object,
        na_filter=False,
        keep_default_na=False,
        quotechar='"',
        doublequote=True,
        skip_blank_lines=True,
        engine="c",
        encoding="utf-8",
    )


def _empty_frame(width: int) -> pd.DataFrame:
    return pd.DataFrame({i: pd.Series([], dtype=object) for i in range(width)})


def _first_multiline_record(records: _Records) -> int | None:
    """Return the first line where a record spans several lines, a hint for the user."""
    spans = np.diff(records.lines)
    multi = np.flatnonzero(spans > 1)
    return int(records.lines[multi[0]]) if len(multi) else None


def _parse_ragged_records(
    data: bytes,
    records: _Records,
    ragged: np.ndarray,
    header: list[str],
    delimiter: str,
    last_filled: bool,
) -> tuple[pd.DataFrame, int]:
    """Turn records whose field count differs from the header's into rows.

    Some exports quote a whole line that contains a comma, so the record is one field.
    Such a record is unwrapped when its content has the header's field count. Any
    other record becomes a problem row with empty values. ``last_filled`` is True
    when a well-formed row has a value in the last column.
    """
    rows: list[list[str | None]] = []
    problems: list[str | None] = []
    texts: list[str | None] = []
    unwrapped = 0
    for index in ragged:
        text = _record_text(data, records, index)
        line = int(records.lines[index])
        try:
            fields = _parse_line(text, delimiter)
        except csv.Error as exc:
            rows.append([None] * len(header))
            problems.append(f"line {line}: the record cannot be parsed ({exc}); fix it")
            texts.append(text)
            continue
        inner = _unwrap(text, fields, len(header), delimiter)
        if inner is not None:
            rows.append(inner)
            problems.append(None)
            texts.append(None)
            unwrapped += 1
            continue
        rows.append([None] * len(header))
        reason = _misplaced_quote_reason(text, line, header, delimiter)
        problems.append(
            reason
            or _ragged_reason(line, header, fields, text, delimiter, last_filled)
        )
        texts.append(text)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame[ROW_COLUMN] = ragged
    frame[PROBLEM_COLUMN] = problems
    if any(text is not None for text in texts):
        frame[RECORD_COLUMN] = texts
    return frame, unwrapped


def _unwrap(
    text: str, fields: list[str], width: int, delimiter: str
) -> list[str] | None:
    wrapped = len(fields) == 1 and text.startswith('"') and text.endswith('"')
    if not wrapped or width < 2:
        return None
    inner = _parse_line(fields[0], delimiter) if fields[0] else []
    return inner if len(inner) == width else None


def _ragged_reason(
    line: int,
    header: list[str],
    fields: list[str],
    text: str,
    delimiter: str,
    last_filled: bool,
) -> str:
    """Describe a record with the wrong field count and its likely cause.

    An empty extra field at the end can come from an extra delimiter at the end of
    the line or from a delimiter inside an unquoted value earlier on, which shifts
    the later fields. It is called an extra delimiter at the end only when the
    other rows fill the last column and this row's last column is filled too.
    """
    width = len(header)
    reason = f"line {line}: expected {width} fields, got {len(fields)}"
    if len(fields) == 1 and text.startswith('"') and text.endswith('"'):
        return reason + "; the whole line is wrapped in quotes" + RAGGED_FIX
    split = _split_value(fields, width) if len(fields) > width else None
    name = _DELIMITER_NAMES[delimiter]
    if split is not None:
        reason += (
            f"; {_field_name(split, header)} probably contains an unquoted {name} "
            f"(field {split + 1} starts with a space), which shifts the later fields"
        )
    elif len(fields) == width + 1 and fields[-1] == "":
        if last_filled and fields[width - 1] != "":
            reason += "; the line ends with an extra delimiter"
        else:
            reason += (
                "; either the line ends with an extra delimiter or a value contains "
                f"an unquoted {name}, which shifts the later fields (the last column "
                "is empty, so the two cannot be told apart)"
            )
    return reason + RAGGED_FIX


def _split_value(fields: list[str], width: int) -> int | None:
    """Guess the 1-based field that an unquoted delimiter split, or None.

    A value such as "Acme, Inc" splits into "Acme" and " Inc", so the guess is the
    field before one that starts with a space. It is made only when no more fields
    start with a space than there are extra fields, because some files put a space
    after every delimiter.
    """
    spaced = [
        position
        for position in range(1, len(fields))
        if fields[position].startswith(" ") and fields[position - 1].strip()
    ]
    if not spaced or len(spaced) > len(fields) - width:
        return None
    return spaced[0]


RAGGED_FIX = ". Fix that line's quotes or delimiters in the source and import it again"

QUOTE_FIX = (
    ". Quote the whole field and double each quote inside it, or remove the quote, "
    "in the source and import it again"
)


def _field_pattern(delimiter: str) -> re.Pattern[str]:
    """Match one RFC 4180 field: quoted with doubled inner quotes, or without quotes."""
    escaped = re.escape(delimiter)
    # The possessive *+ keeps a quoted value that is never closed from matching
    # a shorter prefix ending at a doubled quote.
    return re.compile(f'"(?:[^"]|"")*+"|[^"{escaped}]*')


def _record_pattern(delimiter: str) -> re.Pattern[str]:
    """Match a whole record whose fields all follow RFC 4180 quoting."""
    field = _field_pattern(delimiter).pattern
    return re.compile(f"(?:{field})(?:{re.escape(delimiter)}(?:{field}))*")


def _misplaced_quote_reason(
    text: str, line: int, header: list[str], delimiter: str
) -> str | None:
    """Describe the first quote character that breaks RFC 4180 quoting in a record.

    Such a quote makes the parsers split the record differently from the field
    count, so "expected N fields, got M" would not name the cause. Returns None
    when the record's quoting is valid.
    """
    found = _find_misplaced_quote(text, line, header, delimiter)
    if found is None:
        return None
    quote_line, problem = found
    return f"line {quote_line}: {problem}{QUOTE_FIX}"


def _find_misplaced_quote(
    text: str, line: int, header: list[str], delimiter: str
) -> tuple[int, str] | None:
    """Return the line of the first quote that breaks RFC 4180 quoting, and why."""
    pattern = _field_pattern(delimiter)
    position, column = 0, 1
    while True:
        start = position
        position = pattern.match(text, start).end()
        if position == len(text):
            return None
        if text[position] == delimiter:
            position += 1
            column += 1
            continue
        break
    quote_line = line + text.count("\n", 0, position)
    last_line = line + text.count("\n")
    name = _field_name(column, header)
    if position == start:
        problem = f"the quoted value in {name} is never closed"
    elif text[start] == '"':
        problem = f"{name} has text after its closing quote"
    else:
        problem = (
            f"{name} contains a quote character but is not quoted "
            f"({text[max(start, position - 20) : position + 1]!r})"
        )
    if last_line > quote_line:
        problem += f", so the record runs on to line {last_line}"
    return quote_line, problem


def _field_name(column: int, header: list[str]) -> str:
    name = f"field {column}"
    if column <= len(header) and header[column - 1].strip():
        name += f" ({header[column - 1].strip()})"
    return name


def _check_multiline_records(
    data: bytes, records: _Records, header: list[str], delimiter: str, path: Path
) -> None:
    """Reject a file in which a stray quote has merged lines into one record.

    A record that spans lines is accepted only when its quoting is valid RFC 4180
    and no quoted value in it contains lines that look like whole rows. Otherwise
    the quote that opened the span is probably a stray one (O"Brien, 5'10"), and
    reading the span as one row would lose the rows in it and renumber the rows
    after it. So the whole file is rejected, naming the line of that quote.
    """
    multiline = np.flatnonzero(records.last_lines > records.lines)
    valid = _record_pattern(delimiter)
    width = len(header)
    for index in multiline:
        text = _record_text(data, records, index)
        line, last_line = int(records.lines[index]), int(records.last_lines[index])
        misplaced = (
            None
            if valid.fullmatch(text)
            else _find_misplaced_quote(text, line, header, delimiter)
        )
        if misplaced is not None:
            quote_line, problem = misplaced
            raise IntakeError(
                str(path),
                f"{problem}. The rows on lines {line} to {last_line} would be read "
                "as one record and lost, and later rows numbered wrongly",
                line=quote_line,
                fix="Quote that field and double the quote inside it (such as "
                '"O""Brien"), or remove the quote, and import the file again',
            )
        # A full line with a stray quote, then a whole row, has twice a row's
        # delimiters, so records with fewer skip the slower field scan.
        if last_line - line < 2 or text.count(delimiter) < 2 * (width - 1):
            continue
        swallowed = _find_swallowed_row(text, line, width, delimiter)
        if swallowed is not None:
            column, row_line = swallowed
            name = _field_name(column, header)
            raise IntakeError(
                str(path),
                f"the quoted value in {name} runs on to line {last_line}, and line "
                f"{row_line} inside it has the {len(header)} fields of a whole row. "
                "A stray quote at the start of that field probably merged these "
                "lines into one record",
                line=line,
                fix="Remove the stray quote, or quote the whole field and double "
                "the quote inside it, and import the file again. If the value "
                "really spans these lines, replace its line breaks",
            )


_MIN_SWALLOWED_WIDTH = 3
"""Narrower files are not checked for rows inside a quoted value: a line of a
two-column file's notes with one comma would look like a whole row."""


def _find_swallowed_row(
    text: str, line: int, width: int, delimiter: str
) -> tuple[int, int] | None:
    """Find a quoted value that spans 3 or more lines and contains a whole row.

    Returns the value's 1-based field number and the line of the first inner line
    (neither the value's first nor last) that splits into ``width`` fields, else
    None. The record's quoting must already be valid.
    """
    # NOTE: a real multi-line value with an inner line of exactly ``width`` fields
    # (such as notes with a full row's commas) is reported as a stray quote too.
    if width < _MIN_SWALLOWED_WIDTH:
        return None
    pattern = _field_pattern(delimiter)
    position, column = 0, 1
    while position <= len(text):
        match = pattern.match(text, position)
        value = match.group()
        if value.startswith('"') and value.count("\n") >= 2:
            first_line = line + text.count("\n", 0, match.start())
            inner = value.split("\n")[1:-1]
            for offset, inner_line in enumerate(inner, start=1):
                inner_line = inner_line.rstrip("\r")
                if inner_line.count(delimiter) < width - 1:
                    continue
                try:
                    fields = _parse_line(inner_line, delimiter)
                except csv.Error:
                    continue
                if len(fields) == width:
                    return column, first_line + offset
        position = match.end() + 1
        column += 1
    return None


def _mark_repeated_headers(
    frame: pd.DataFrame, header: list[str], records: _Records
) -> None:
    """Give each data row that repeats the header row a problem, in place.

    Two exports joined into one file carry the second export's header as a row.
    Names are compared without surrounding spaces and letter case. The row's
    values are blanked: they are column names, and read as values they could
    opt out (a do_not_email cell that is not a known no) or name a person to
    suppress (the external id "external_id").
    """
    names = [name.strip().casefold() for name in header]
    first = frame[header[0]]
    # In any order: two exports of one source can order their columns differently.
    candidates = first.notna() & first.str.strip().str.casefold().isin(names)
    if not candidates.any():
        return
    header_line = int(records.lines[0])
    for index in np.flatnonzero(candidates.to_numpy()):
        values = frame.iloc[index, : len(header)]
        if any(pd.isna(value) for value in values) or sorted(
            value.strip().casefold() for value in values
        ) != sorted(names):
            continue
        row = int(frame.iloc[index][ROW_COLUMN])
        frame.iloc[index, frame.columns.get_loc(PROBLEM_COLUMN)] = (
            f"line {int(records.lines[row])}: repeated header row. It contains the "
            f"column names of line {header_line} again (in any order), as when two "
            "exports are joined, and is not a lead"
        )
        for column in header:
            frame.iloc[index, frame.columns.get_loc(column)] = None


def _drop_empty_last_column(
    frame: pd.DataFrame, header: list[str], path: Path, header_line: int
) -> tuple[pd.DataFrame, list[str]]:
    column = frame.iloc[:, len(header) - 1]
    filled = column.notna() & (column != "")
    if filled.any():
        first = int(frame.loc[filled, ROW_COLUMN].iloc[0])
        raise IntakeError(
            str(path),
            f"the last column has no header name but contains values on "
            f"{int(filled.sum())} rows (first: data row {first})",
            line=header_line,
            fix="Name the last column in the header row or delete it",
        )
    return frame.drop(columns=frame.columns[len(header) - 1]), header[:-1]


def _read_jsonl(data: bytes, path: Path, encoding: str) -> RawBatch:
    """Read JSON Lines: one object per line; any other line becomes a problem row."""
    objects: list[dict[str, str | None] | None] = []
    problems: list[str | None] = []
    texts: list[str | None] = []
    lines = data.decode("utf-8").split("\n")
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("["):
        raise IntakeError(
            str(path),
            "the file is a JSON array, not JSON Lines",
            line=lines.index(first) + 1,
            fix="Write one JSON object per line without the enclosing brackets",
        )
    spellings: dict[str, str] = {}
    object_lines = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record, problem, is_object = _parse_json_line(line, number)
        object_lines += is_object
        if record is not None:
            record, problem = _same_spelling(record, number, spellings)
        objects.append(record)
        problems.append(problem)
        texts.append(line if problem is not None else None)

    expected = sum(1 for line in lines if line.strip())
    if len(objects) != expected:
        raise IntakeError(
            str(path),
            f"counted {expected} non-blank lines but read {len(objects)} rows",
        )
    if objects and not object_lines:
        raise IntakeError(
            str(path),
            f"none of the {expected} lines is a JSON object: {problems[0]}",
            fix="Write one JSON object per line (JSON Lines), not a JSON array or "
            "pretty-printed JSON",
        )
    if objects and all(record is None for record in objects):
        raise IntakeError(
            str(path),
            f"none of the {expected} lines can be read as a lead. The first problem "
            f"is on {problems[0]}",
            fix="Fix those lines and import the file again",
        )
    header = _jsonl_header(objects, path)
    frame = pd.DataFrame(
        [[(record or {}).get(name) for name in header] for record in objects],
        columns=header,
        dtype=object,
    )
    frame[ROW_COLUMN] = np.arange(1, len(objects) + 1)
    frame[PROBLEM_COLUMN] = problems
    if any(text is not None for text in texts):
        frame[RECORD_COLUMN] = texts
    return RawBatch(path, "", encoding, None, header, len(objects), frame)


class _DuplicateKeyError(ValueError):
    """A JSON object names one key twice; ``key`` is that key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _ConstantError(ValueError):
    """The error for a JSON line with NaN, Infinity or -Infinity (``name``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _reject_constant(name: str) -> object:
    raise _ConstantError(name)


def _object_from_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """Build a JSON object, rejecting a key written twice.

    json.loads keeps the last value of a repeated key, so {"consent_share": "no",
    "consent_share": "yes"} would read as consent given.
    """
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return value


def _json_type(value: object, line: str) -> str:
    """Name the JSON type of a parsed line's value.

    Numbers are parsed as str to keep them as written, so only the line's first
    character distinguishes them from a JSON string.
    """
    if isinstance(value, str):
        return "string" if line.lstrip().startswith('"') else "number"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "array"


def _parse_json_line(line: str, number: int) -> tuple[dict | None, str | None, bool]:
    """Parse one JSON line into (record, problem, whether the line is a JSON object).

    The record is None when the line has a problem.
    """
    try:
        value = json.loads(
            line,
            object_pairs_hook=_object_from_pairs,
            parse_int=str,
            parse_float=str,
            parse_constant=_reject_constant,
        )
    except _ConstantError as exc:
        problem = (
            f"line {number}: {exc.name} is not valid JSON; write a number, a string "
            "or null"
        )
        return None, problem, line.lstrip().startswith("{")
    except json.JSONDecodeError as exc:
        problem = (
            f"line {number}: invalid JSON ({exc.msg}; column {exc.colno}); "
            "fix the line or export it again"
        )
        return None, problem, False
    except RecursionError:
        problem = (
            f"line {number}: the JSON value is nested too deeply to parse; write "
            "one flat object per line"
        )
        return None, problem, False
    except _DuplicateKeyError as exc:
        # NOTE: a nested object with a repeated key is reported here too, before
        # the line is rejected for holding a nested value.
        if _text_problem(exc.key):
            return None, f"line {number}: a key appears twice; keep one", True
        return None, f"line {number}: key {exc.key!r} appears twice; keep one", True
    if not isinstance(value, dict):
        problem = (
            f"line {number}: expected a JSON object, got a JSON "
            f"{_json_type(value, line)}; write one object per line"
        )
        return None, problem, False
    problem = _object_text_problem(value, number)
    if problem:
        return None, problem, True
    record: dict[str, str | None] = {}
    for key, item in value.items():
        if not key.strip():
            problem = f"line {number}: a field has an empty name; name it or remove it"
            return None, problem, True
        if isinstance(item, dict | list):
            problem = f"line {number}: field {key!r} holds a nested value; flatten it"
            return None, problem, True
        if isinstance(item, bool):
            record[key] = "true" if item else "false"
        else:
            record[key] = item
    return record, None, True


_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""C0 control characters other than tab, line feed and carriage return. A CSV
cell can contain those three, but no lead field has a use for the others, and
PostgreSQL cannot store NUL (U+0000) in text at all."""

_SURROGATES = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    """Describe why ``text`` cannot be stored as a lead value, or return None.

    A JSON escape such as ``\\ud800`` without its pair decodes to a lone
    surrogate, which has no UTF-8 encoding.
    """
    if _SURROGATES.search(text):
        return (
            "contains an invalid Unicode escape (an unpaired surrogate such as "
            "\\ud800)"
        )
    control = _CONTROL_CHARACTERS.search(text)
    if control:
        return f"contains the control character U+{ord(control.group()):04X}"
    return None


def _object_text_problem(value: dict, number: int) -> str | None:
    """Check the keys and string values of a line's object for unstorable text.

    The message names a key only when the key itself is valid, and never quotes a
    value, because the reason is logged and stored.
    """
    for key, item in value.items():
        problem = _text_problem(key)
        if problem:
            return (
                f"line {number}: a key {problem}; fix the key in the source and "
                "export the file again"
            )
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return (
                    f"line {number}: field {key!r} {problem}; remove it from the "
                    "value in the source and export the file again"
                )
    return None


def _same_spelling(
    record: dict[str, str | None], number: int, spellings: dict[str, str]
) -> tuple[dict[str, str | None] | None, str | None]:
    """Spell each key as the file first spelt it, ignoring spaces and letter case.

    Each JSON line names its own keys, so ``Email`` on one line and ``email`` on
    another are one field. A line that names one field twice, or uses a reserved
    key, becomes a problem row instead of rejecting the file.
    """
    renamed: dict[str, str | None] = {}
    for key, value in record.items():
        folded = key.strip().casefold()
        if folded in (ROW_COLUMN, PROBLEM_COLUMN, RECORD_COLUMN):
            return None, f"line {number}: key {key!r} is reserved; rename it"
        name = spellings.setdefault(folded, key)
        if name in renamed:
            return None, (
                f"line {number}: keys {name!r} and {key!r} name the same field "
                "(ignoring spaces and letter case); keep one"
            )
        renamed[name] = value
    return renamed, None


def _jsonl_header(objects: Iterable[dict | None], path: Path) -> list[str]:
    """Collect the keys in order of first appearance and check them like CSV headers."""
    header: dict[str, None] = {}
    for record in objects:
        if record:
            header.update(dict.fromkeys(record))
    names = list(header)
    _check_names(names, len(names), path)
    return names


# Columns are cleaned by this many threads. Arrow's compute functions release the
# GIL, so two threads keep both cores of a small machine busy.
CLEANING_THREADS = 2


def apply_profile(
    raw: RawBatch, profile: Profile, release_columns: bool = False
) -> pd.DataFrame:
    """Map a raw batch onto LEAD_FIELDS with a source profile.

    Headers are matched after stripping spaces and casefolding. A value that is blank
    or a placeholder (compared after trimming and lower-casing) becomes missing: None,
    or NA in a column kept as Arrow strings (see :func:`_clean_column`). Vocabularies in
    ``profile.values`` translate source values, and ``profile.defaults`` fill the
    fields whose column the file does not have, except on malformed rows. A blank
    or placeholder in a column the file has stays missing, so a default never
    turns an empty consent value into consent. Each value is trimmed, and a run of
    white space inside it becomes one space except in :data:`SPACING_KEPT_FIELDS`
    (see :func:`_tidy_spaces`). Raises GateError when a required column is
    missing. With ``release_columns``, each source column is dropped from ``raw`` once
    mapped, which lowers the peak memory of a large file.
    """
    sources = _resolve_columns(raw, profile)
    uses = Counter(sources.values())
    placeholders = {value.strip().casefold() for value in profile.placeholders} | {""}
    malformed = raw.frame[PROBLEM_COLUMN].notna().to_numpy()
    with ThreadPoolExecutor(CLEANING_THREADS) as pool:
        cleaning = {
            lead_field: pool.submit(
                _clean_column,
                raw.frame[source],
                placeholders,
                _folded_vocabulary(profile, lead_field),
                lead_field not in SPACING_KEPT_FIELDS,
            )
            for lead_field, source in sources.items()
        }
        columns: dict[str, object] = {}
        for lead_field in LEAD_FIELDS:
            columns[lead_field] = _mapped_column(
                raw, profile, lead_field, cleaning.pop(lead_field, None), malformed
            )
            source = sources.get(lead_field)
            if source is None:
                continue
            uses[source] -= 1
            if release_columns and not uses[source]:
                del raw.frame[source]
    # copy=False keeps one array per column instead of copying them into one block.
    frame = pd.DataFrame(columns, index=raw.frame.index, copy=False)
    # Give back the pages Arrow freed while cleaning the columns.
    pa.default_memory_pool().release_unused()
    frame[ROW_COLUMN] = raw.frame[ROW_COLUMN].to_numpy()
    frame[PROBLEM_COLUMN] = raw.frame[PROBLEM_COLUMN].to_numpy()
    if RECORD_COLUMN in raw.frame.columns:
        frame[RECORD_COLUMN] = raw.frame[RECORD_COLUMN].to_numpy()
        if raw.delimiter is not None:
            _read_shifted_do_not_email(frame, raw, profile, sources, placeholders)
    log.info(
        "mapped %s with profile %s: %d of %d lead fields from columns, %s",
        raw.path.name,
        profile.name,
        len(sources),
        len(LEAD_FIELDS),
        counted(len(frame), "row"),
    )
    return frame


def _mapped_column(
    raw: RawBatch,
    profile: Profile,
    lead_field: str,
    cleaning: Future | None,
    malformed: np.ndarray,
) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Return one lead field's values: its cleaned column, or else its default.

    ``cleaning`` is the :func:`_clean_column` job of the field's source column, or
    None when the file has no column for the field.
    """
    if cleaning is not None:
        return cleaning.result()
    default = profile.defaults.get(lead_field)
    if default is None:
        return np.full(len(raw.frame), None, dtype=object)
    return np.where(~malformed, default, None)


def _folded_vocabulary(profile: Profile, lead_field: str) -> dict[str, str]:
    """Return the profile's value translations for a field, keys trimmed and folded."""
    return {
        key.strip().casefold(): value
        for key, value in profile.values.get(lead_field, {}).items()
    }


def _read_shifted_do_not_email(
    frame: pd.DataFrame,
    raw: RawBatch,
    profile: Profile,
    sources: dict[str, str],
    placeholders: set[str],
) -> None:
    """Set do_not_email to yes on a one-line malformed CSV record that may opt out.

    Such a record has more or fewer fields than the header, so its do_not_email
    value is read both from the left and from the right. When either reading is
    a true token after the profile's vocabulary, the record counts as an opt-out.
    This errs towards suppressing: a yes in a neighbouring column (do_not_call,
    consent_share) can be read as do_not_email. Records over several lines are
    left to the opt-out words in their text, because their fields may belong to
    several leads.
    """
    source = sources.get("do_not_email")
    if source is None or source not in raw.header:
        return
    index = raw.header.index(source)
    vocabulary = _folded_vocabulary(profile, "do_not_email")
    texts = frame[RECORD_COLUMN]
    for row in texts.index[texts.notna()]:
        text = texts[row]
        if "\n" in text:
            continue
        try:
            fields = _parse_line(text, raw.delimiter)
        except csv.Error:
            fields = text.split(raw.delimiter)
        for value in aligned_values(fields, len(raw.header), index):
            folded = value.strip().casefold()
            if folded in placeholders:
                continue
            flag, _ = parse_flag(vocabulary.get(folded, value))
            if flag:
                frame.loc[row, "do_not_email"] = "yes"
                break


def _resolve_columns(raw: RawBatch, profile: Profile) -> dict[str, str]:
    """Find the file header of each mapped lead field.

    Raises GateError when a required field has none of its accepted headers.
    """
    by_key = {name.strip().casefold(): name for name in raw.header}
    sources: dict[str, str] = {}
    for lead_field, accepted in profile.columns.items():
        names = [accepted] if isinstance(accepted, str) else list(accepted)
        for name in names:
            header = by_key.get(name.strip().casefold())
            if header is not None:
                sources[lead_field] = header
                break

    if profile.opt_out_list:
        _check_opt_out_list(raw, profile, sources)
    missing = [name for name in profile.required_columns if name not in sources]
    if missing:
        wanted = "; ".join(
            f"{name} (accepted headers: {profile.columns.get(name, 'none configured')})"
            for name in missing
        )
        fix = (
            f"Rename the column in the file or add its header to profile "
            f"{profile.name!r} under 'columns'"
        )
        if "consent_share" in missing or _lists_opt_outs(raw.header):
            fix += (
                ". If the file lists people who opted out, its opt-outs were not "
                "applied: import it with the optouts profile (inbox/optouts/, or "
                "`leadshare share --profile optouts FILE`)"
            )
        raise GateError(
            str(raw.path),
            f"missing required column for {wanted}; headers found: {raw.header}",
            line=raw.header_line,
            fix=fix,
        )
    return sources


def _check_opt_out_list(
    raw: RawBatch, profile: Profile, sources: dict[str, str]
) -> None:
    """Raise GateError unless the file of an opt-out list profile can be one.

    Its rows are suppressed for good, so a file without an e-mail or phone column
    would suppress no one, and a lead file sent to this profile by mistake would
    suppress everyone in it.
    """
    keys = [name for name in ("email", "phone") if name in sources]
    if not keys:
        accepted = {
            name: profile.columns[name]
            for name in ("email", "phone")
            if name in profile.columns
        }
        raise GateError(
            str(raw.path),
            f"no e-mail or phone column, so no opt-out could be applied; accepted "
            f"headers: {accepted}; headers found: {raw.header}",
            line=raw.header_line,
            fix=f"Rename the column in the file or add its header to profile "
            f"{profile.name!r} under 'columns'",
        )
    consent = [name for name in raw.header if "consent" in name.casefold()]
    if consent:
        raise GateError(
            str(raw.path),
            f"the file has the consent column {consent[0]!r}, so it looks like a "
            f"lead file, while profile {profile.name!r} reads every row as an "
            "opt-out for good",
            line=raw.header_line,
            fix="Import a lead file with its own profile (such as generic). If it "
            "is a list of opt-outs, remove the consent column",
        )


_OPT_OUT_HEADER = re.compile(
    r"unsubscri|opt(?:ed)?.?out|suppress|do.?not.?e.?mail", re.IGNORECASE
)


def _lists_opt_outs(header: list[str]) -> bool:
    """Tell whether a header names a column of opt-outs, such as unsubscribed_at."""
    return any(_OPT_OUT_HEADER.search(name) for name in header)


def _clean_column(
    column: pd.Series,
    placeholders: set[str],
    vocabulary: dict[str, str],
    single_line: bool = True,
) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Tidy white space, map placeholders to missing and translate vocabulary values.

    Values are compared after trimming spaces and lower-casing, both done by Arrow.
    The profile's placeholders and vocabulary keys are folded the same way, so the
    two sides always agree. A column of mostly repeated values is cleaned once per
    distinct value, and its rows then share one Python string per value. A column of
    mostly distinct values (e-mails, ids, timestamps) stays an Arrow string column:
    a Python string per cell costs about 70 bytes, Arrow about 25.
    """
    text = _arrow_text(column)
    if text is not None and _mostly_distinct(text):
        return _clean_arrow(text, placeholders, vocabulary, single_line)
    codes, distinct = _distinct(column, text)
    cleaned = _clean_values(distinct, placeholders, vocabulary, single_line)
    cleaned = np.append(cleaned, None)
    # A missing value has code -1, which indexes the final None.
    return cleaned[codes]


def _clean_values(
    values: pa.Array,
    placeholders: set[str],
    vocabulary: dict[str, str],
    single_line: bool = True,
) -> np.ndarray:
    """Return ``values`` as Python objects, placeholders as None, vocabulary mapped.

    White space is tidied first, as :func:`_tidy_spaces` describes.
    """
    values = _tidy_spaces(values, single_line)
    keys = _fold(values)
    cleaned = values.to_numpy(zero_copy_only=False).astype(object)
    if vocabulary:
        found, targets = _look_up(keys, vocabulary)
        known = found.is_valid().to_numpy(zero_copy_only=False)
        mapped = np.asarray(targets, dtype=object)
        cleaned[known] = mapped[found.drop_null().to_numpy()]
    blank = pc.is_in(keys, value_set=_fold(pa.array(sorted(placeholders))))
    cleaned[blank.to_numpy(zero_copy_only=False)] = None
    return cleaned


def _clean_arrow(
    values: pa.Array,
    placeholders: set[str],
    vocabulary: dict[str, str],
    single_line: bool = True,
) -> pd.api.extensions.ExtensionArray:
    """Clean like :func:`_clean_values`, in Arrow, and return an Arrow string column.

    Only the values that can fold to a placeholder or vocabulary key are folded
    (see :func:`_may_fold_to`): in a column of e-mails or ids that is a few.
    """
    values = _tidy_spaces(values, single_line)
    folded_keys = _fold(pa.array(sorted(placeholders | set(vocabulary))))
    candidates = _may_fold_to(values, pc.max(pc.utf8_length(folded_keys)).as_py())
    subset = values if candidates is None else values.filter(candidates)
    keys = _fold(subset)
    if vocabulary:
        found, targets = _look_up(keys, vocabulary)
        mapped = pc.take(pa.array(targets, type=subset.type), found)
        subset = pc.if_else(pc.is_valid(found), mapped, subset)
    blank = pc.is_in(keys, value_set=_fold(pa.array(sorted(placeholders))))
    subset = pc.if_else(blank, pa.scalar(None, type=subset.type), subset)
    if candidates is not None:
        subset = pc.replace_with_mask(values, candidates, subset)
    return pd.arrays.ArrowStringArray(subset)


# The characters for which Python's str.isspace() is true (Python 3.11), so the
# tidied values agree with the keys that str.split() builds in leadshare.fields.
_WHITE_SPACE = (
    r"\t\n\x{0B}\f\r\x{1C}-\x{1F} \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}"
    r"\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
)
_OTHER_WHITE_SPACE = _WHITE_SPACE.replace(" ", "")
_UNTRIMMED = f"^[{_WHITE_SPACE}]|[{_WHITE_SPACE}]$"
_UNTIDY_LINE = f"{_UNTRIMMED}|[{_WHITE_SPACE}]{{2}}|[{_OTHER_WHITE_SPACE}]"
_ENDS = f"^[{_WHITE_SPACE}]+|[{_WHITE_SPACE}]+$"
_RUN = f"[{_WHITE_SPACE}]+"


def _tidy_spaces(values: pa.Array, single_line: bool) -> pa.Array:
    """Trim white space from both ends of each value, and collapse runs inside it.

    Runs inside are collapsed only with ``single_line``: each run of white space
    (line breaks, tabs, no-break spaces) then becomes one space, so a company
    written over two lines reaches partners and the intro on one line. Only the
    values that need a change are rewritten. One regex search over the column
    finds them, which took about 0.08 to 0.1 s for 1M e-mail addresses (2 shared
    vCPUs).
    """
    pattern = _UNTIDY_LINE if single_line else _UNTRIMMED
    untidy = pc.match_substring_regex(values, pattern).fill_null(False)
    if not pc.any(untidy).as_py():
        return values
    subset = values.filter(untidy)
    if single_line:
        subset = pc.replace_substring_regex(subset, _RUN, " ")
    subset = pc.replace_substring_regex(subset, _ENDS, "")
    return pc.replace_with_mask(values, untidy, subset)


_VISIBLE_ASCII = pa.array([chr(code) for code in range(0x21, 0x7F)], pa.large_binary())


def _may_fold_to(values: pa.Array, longest: int) -> pa.Array | None:
    """Mark the values whose folded form can be ``longest`` characters or shorter.

    Lower-casing maps each character to one or more, so a longer value can only fold
    to such a key when trimming shortens it: when its first or last character is
    not visible ASCII. Missing values are not marked. Returns None when a quarter
    or more of the values are that short, because folding them all is then cheaper.
    """
    short = pc.less_equal(pc.utf8_length(values), longest)
    if (pc.sum(short).as_py() or 0) * 4 >= len(values):
        return None
    as_bytes = values.cast(pa.large_binary())
    ends = [pc.binary_slice(as_bytes, 0, 1), pc.binary_slice(as_bytes, -1)]
    plain_ends = pc.and_(*(pc.is_in(end, value_set=_VISIBLE_ASCII) for end in ends))
    return pc.or_(short, pc.invert(plain_ends)).fill_null(False)


def _look_up(keys: pa.Array, vocabulary: dict[str, str]) -> tuple[pa.Array, list[str]]:
    """Find folded ``keys`` among the folded vocabulary keys.

    Returns each key's position in the returned target values (null when absent).
    """
    folded = dict(
        zip(
            _fold(pa.array(list(vocabulary))).to_pylist(),
            vocabulary.values(),
            strict=True,
        )
    )
    found = pc.index_in(keys, value_set=pa.array(list(folded)))
    return found, list(folded.values())


_SAMPLE_ROWS = 10_000


def _mostly_distinct(values: pa.Array) -> bool:
    """Tell whether most values in a sample of the column differ from each other."""
    sample = values.slice(0, _SAMPLE_ROWS)
    return len(pc.unique(sample)) * 2 > len(sample)


def _arrow_text(column: pd.Series) -> pa.Array | None:
    """Return an Arrow-backed column as one Arrow (large) string array, else None."""
    if not arrowtext.is_arrow_text(column):
        return None
    values = pa.array(column.array)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values


def _fold(values: pa.Array) -> pa.Array:
    return pc.utf8_lower(pc.utf8_trim_whitespace(values))


def _distinct(column: pd.Series, text: pa.Array | None) -> tuple[np.ndarray, pa.Array]:
    """Return (codes, distinct values as Arrow strings); a missing value has code -1.

    An Arrow-backed column (``text``) is encoded by Arrow without making a Python
    string per cell, and only its distinct values become Python objects.
    """
    if text is not None:
        encoded = text.dictionary_encode()
        codes = pc.fill_null(encoded.indices, -1).to_numpy()
        return codes, encoded.dictionary
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str)
    return codes, pa.array(text.to_numpy(dtype=object), type=pa.string())
