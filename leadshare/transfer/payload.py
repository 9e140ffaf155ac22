"""The JSON body of a lead transfer: deterministic bytes, allowlisted fields only."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_EVENT = "lead.shared"


def build_payload(
    lead: Mapping[str, Any],
    allowlist: Sequence[str],
    intro: str,
    partner_id: str,
    event: str = DEFAULT_EVENT,
) -> bytes:
    """Serialise one lead for one partner as UTF-8 JSON bytes.

    Only the fields named in ``allowlist`` are copied from ``lead``. An allowlisted
    field that the lead lacks is sent as null, so every body of a partner has the
    same keys. Keys are sorted and separators compact, so the same input always
    gives the same bytes, and those bytes are what gets signed and stored.
    """
    fields = {name: _json_value(name, lead.get(name)) for name in allowlist}
    document = {
        "type": event,
        "partner_id": partner_id,
        "intro": intro,
        "lead": fields,
    }
    text = json.dumps(
        document,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


def _json_value(name: str, value: Any) -> Any:
    """Convert one field value to a JSON type; None, NaN, NaT and NA become None."""
    if value is None or type(value).__name__ in {"NAType", "NaTType"}:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str | bool | int | float):
        return value.item() if hasattr(value, "item") else value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"lead field {name!r} is a naive datetime; store timezone-aware values"
            )
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar that is not a float or int subclass
        return _json_value(name, value.item())
    raise TypeError(
        f"lead field {name!r} has type {type(value).__name__}, which has no JSON form; "
        "convert it to str, int, float, bool or a date before building the payload"
    )
