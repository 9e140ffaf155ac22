"""Read ISO 8601 timestamps from lead files, strictly and per value.

A value that does not parse stays apart from a blank one, so a caller can reject
an unreadable date instead of taking it for a missing (or a fresh) one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from leadshare import scratch

FUTURE_TOLERANCE = dt.timedelta(days=1)
"""How far past the run's time a lead's timestamp may lie (clock skew, zones)."""


NOT_ISO = " is not a valid ISO 8601 date and time (such as 2026-11-03T10:00:00Z)"
"""The end of a reason for a timestamp that does not parse, after its value."""


class CheckedTimes(NamedTuple):
    """Parsed timestamps and the values that fail the checks, one entry per value."""

    at: pd.Series
    """UTC times; NaT where the value is blank or does not parse."""
    unreadable: np.ndarray
    """True where the value contains text that does not parse."""
    future: np.ndarray
    """True where the time is more than ``FUTURE_TOLERANCE`` after the run's time."""


def check_timestamps(values: pd.Series, now: dt.datetime) -> CheckedTimes:
    """Parse ``values`` and flag the unreadable ones and those in the future."""
    at, has_text = parse_timestamps(values)
    unreadable = has_text & at.isna().to_numpy()
    future = at.gt(pd.Timestamp(now + FUTURE_TOLERANCE)).fillna(False).to_numpy()
    return CheckedTimes(at, unreadable, future)


def utc_minutes(moments: pd.Series) -> pd.Series:
    """Format times as 'YYYY-MM-DD HH:MM UTC' for reasons."""
    return moments.dt.strftime("%Y-%m-%d %H:%M UTC")


def parse_timestamps(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse ISO 8601 text to UTC, each value on its own (NaT where it does not parse).

    Returns the times and, per value, whether it contains any text besides spaces. A
    value without an offset is UTC. With pandas 2.3's ``format="ISO8601"``, such a
    value took the offset of the value before it, so freshness depended on the row
    above.
    """
    text = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    parsed = scratch.query("parse_timestamps", {"_values": pa.table({"v": text})})
    seen = parsed.column("at").to_pandas()
    seen.index = values.index
    has_text = parsed.column("has_text").to_numpy(zero_copy_only=False)
    failed = has_text & seen.isna().to_numpy()
    if failed.any():
        seen = _parse_other_iso_forms(values, seen, failed)
    return seen, has_text


MAX_OFFSET = dt.timedelta(hours=14)
"""The widest UTC offset in use (Kiribati); a larger one is a typing error."""

_OFFSET_MINUTES = re.compile(r"[+-][0-9]{2}:?([0-9]{2})$")


def _parse_other_iso_forms(
    values: pd.Series, seen: pd.Series, failed: np.ndarray
) -> pd.Series:
    """Fill in the ISO 8601 forms DuckDB does not read, per distinct value.

    These are the basic form (20261103T100000Z) and week dates (2026-W45-2), which
    Python's ``datetime.fromisoformat`` reads. Returns ``seen`` with them filled in.
    """
    text = values[failed].astype(str).str.strip()
    parsed = {value: _from_iso(value) for value in text.unique()}
    if all(moment is None for moment in parsed.values()):
        return seen
    # In microseconds since 1970, as the SQL result: pandas' own conversion is in
    # nanoseconds, which end in the year 2262.
    micros = seen.array.as_unit("us").asi8.copy()
    micros[failed] = [
        _NAT if moment is None else (moment - _EPOCH) // _MICROSECOND
        for moment in (parsed[value] for value in text)
    ]
    moments = pd.DatetimeIndex(micros.view("M8[us]")).tz_localize(dt.UTC)
    return pd.Series(moments, index=seen.index)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_NAT = np.iinfo(np.int64).min


def _from_iso(value: str) -> dt.datetime | None:
    """Parse one value with ``fromisoformat``, under the rules of the SQL parse."""
    if not value[:4].isdigit():
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    offset = moment.utcoffset()
    if offset is None:
        return moment.replace(tzinfo=dt.UTC)
    minutes = _OFFSET_MINUTES.search(value)
    if abs(offset) > MAX_OFFSET or (minutes and int(minutes.group(1)) > 59):
        return None
    return moment.astimezone(dt.UTC)
