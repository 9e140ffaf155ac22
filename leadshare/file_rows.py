"""The recorded outcome of each row of a lead file, for `leadshare rows`.

An analyst who has a lead file needs to know what became of its rows: which were shared
and to whom, and why the others were not. A file is found by its content when the
path given exists (so a renamed copy is found too), otherwise by the name the inbox
gave it or by its file id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from leadshare.errors import LeadshareError
from leadshare.model import Outcome
from leadshare.store import LeadStore
from leadshare.words import counted, utc_iso, utc_text

FILE_ID_LENGTH = 32
"""A file id is the first 32 hex digits of the sha256 of the file's bytes."""


def find_files(store: LeadStore, name_or_path: str) -> list[dict]:
    """Return the recorded files that ``name_or_path`` names, newest first.

    ``name_or_path`` is the path of a lead file, the file name the store records
    or a file id. A path that exists is looked up by its content only.
    """
    from leadshare.pipeline import sha256_file

    path = Path(name_or_path)
    if path.is_file():
        try:
            file_id = sha256_file(path)[:FILE_ID_LENGTH]
        except OSError as exc:
            raise LeadshareError(
                f"cannot read {path} to find it by its content: {exc.strerror}. "
                "Give the file name that `leadshare status --json` lists instead"
            ) from exc
        return store.rows("files_named", file_id=file_id, file_name=None)
    return store.rows(
        "files_named", file_id=name_or_path.lower(), file_name=path.name
    )


def not_found_text(name_or_path: str) -> str:
    """Say that no recorded file matches ``name_or_path`` and what to give instead."""
    if Path(name_or_path).is_file():
        return (
            f"No run has read {name_or_path}: no recorded file has its content. "
            "Share it with `leadshare share --profile NAME FILE`, or drop it in the "
            "inbox"
        )
    return (
        f"No file named {name_or_path!r} is recorded. Give the path of the lead file "
        "itself (it is found by its content), or a file name or file id from "
        "`leadshare status --json` (files of each run's summary)"
    )


def check_outcome(outcome: str | None) -> str | None:
    """Return ``outcome`` in lower case, or raise naming the outcomes there are."""
    if outcome is None:
        return None
    names = [item.value for item in Outcome]
    if outcome.lower() not in names:
        raise LeadshareError(
            f"--outcome {outcome!r} is not an outcome. Use one of {', '.join(names)}"
        )
    return outcome.lower()


PAGE_ROWS = 20_000
"""Rows read from the store at a time, so a file of a million rows streams."""


def file_document(store: LeadStore, file: dict, outcome: str | None) -> dict:
    """Return one file's record and its outcome counts, without its rows.

    ``rows_matching`` counts the rows with ``outcome`` (all rows when None);
    :func:`file_rows` gives them.
    """
    counts = {item.value: 0 for item in Outcome}
    for row in store.rows("file_outcome_counts", file_id=file["file_id"]):
        counts[row["outcome"]] = int(row["n"])
    matching = counts.get(outcome, 0) if outcome else sum(counts.values())
    return {
        "file_id": file["file_id"],
        "file_name": file["file_name"],
        "profile": file["profile"],
        "status": file["status"],
        "reason": file["reason"],
        "rows_in": file["rows_in"],
        "run_id": file["run_id"],
        "received_at": utc_iso(file["received_at"]),
        "committed_at": utc_iso(file["committed_at"]),
        "outcomes": counts,
        "rows_matching": matching,
    }


def file_rows(
    store: LeadStore, file_id: str, outcome: str | None, limit: int | None
) -> Iterator[dict]:
    """Yield the first ``limit`` rows (all when None) with ``outcome``, in file order.

    The rows are read a page at a time, so memory does not grow with the file.
    """
    after, left = 0, limit
    while left is None or left > 0:
        page = PAGE_ROWS if left is None else min(left, PAGE_ROWS)
        rows = store.rows(
            "file_rows", file_id=file_id, outcome=outcome, after=after, limit=page
        )
        for row in rows:
            yield {
                "row": int(row["source_row"]),
                "outcome": row["outcome"],
                "rule": row["rule"],
                "reason": row["reason"],
                "lead_id": row["lead_id"],
                "transfers": _transfers(row["transfers"]),
                "run_id": row["run_id"],
            }
        if len(rows) < page:
            return
        after = int(rows[-1]["source_row"])
        left = None if left is None else left - len(rows)


def write_json(documents: list[dict], rows: list[Iterable[dict]], out: TextIO) -> None:
    """Write ``{"files": [...]}`` with each document's rows under ``rows``.

    The rows are written as they come, one per line, never all held at once.
    """
    out.write('{"files": [')
    for number, (document, listed) in enumerate(zip(documents, rows, strict=True)):
        head = json.dumps(document, indent=2, default=str)
        # The head ends with a line break and a brace, and the rows go before it.
        out.write(("," if number else "") + "\n" + head[:-2] + ',\n  "rows": [')
        for index, row in enumerate(listed):
            out.write(("," if index else "") + "\n    " + json.dumps(row, default=str))
        out.write("\n  ]\n}")
    out.write("\n]}\n")


def file_lines(
    document: dict, rows: Iterable[dict], outcome: str | None
) -> Iterator[str]:
    """Describe one file from :func:`file_document`: heading, counts, ``rows``."""
    when = (
        f"committed {utc_text(document['committed_at'])}"
        if document["committed_at"]
        else f"received {utc_text(document['received_at'])}"
    )
    yield (
        f"{document['file_name']} (file {document['file_id']}, profile "
        f"{document['profile']}, run {document['run_id']}, {when})"
    )
    if document["status"] != "committed":
        yield (
            f"  {document['status']}: {document['reason'] or 'no reason recorded'}. "
            "No row of it has an outcome"
        )
        return

    described = ", ".join(
        f"{name} {count:,}" for name, count in document["outcomes"].items() if count
    )
    total = sum(document["outcomes"].values())
    yield f"  {counted(total, 'row')}: {described or 'none recorded'}"

    if outcome and not document["rows_matching"]:
        yield f"  No row is {outcome}"
    listed = 0
    for row in rows:
        listed += 1
        yield "  " + _row_text(row)

    hidden = document["rows_matching"] - listed
    if hidden > 0:
        yield (
            f"  ... and {counted(hidden, 'more row')}; --limit 0 shows them all, "
            "--outcome NAME shows one outcome"
        )


def _transfers(joined: str | None) -> list[dict]:
    """Split "P-A:sent,P-B:pending" into partner ids and transfer statuses."""
    found = []
    for item in (joined or "").split(","):
        if item:
            partner_id, _, status = item.rpartition(":")
            found.append({"partner_id": partner_id, "status": status})
    return found


def _row_text(row: dict) -> str:
    text = f"row {row['row']}: {row['outcome']}"
    if row["outcome"] == Outcome.DUPLICATE.value and row["lead_id"]:
        text += f" of {row['lead_id']}"
    elif row["lead_id"]:
        text += f", {row['lead_id']}"
    if row["transfers"]:
        sent = [
            item["partner_id"]
            + ("" if item["status"] == "sent" else f" ({item['status']})")
            for item in row["transfers"]
        ]
        text += f", to {', '.join(sent)}"
    if row["rule"] and row["outcome"] != Outcome.SHARED.value:
        text += f" [{row['rule']}]"
    if row["reason"] and row["outcome"] != Outcome.SHARED.value:
        text += f": {row['reason']}"
    return text
