"""A local journal of webhooks that a partner accepted and the store has not recorded.

The outbox marks accepted webhooks as sent in the store in batches (see
:data:`leadshare.delivery.SENT_FLUSH_EVERY`). Between a partner's 2xx and that
batch's commit, the acceptance lives only in memory: a crash, or a store held by
another process for longer than the wait, would lose it, and the next attempt would
post those transfers again. So each accepted send is appended to
``$LEADSHARE_HOME/journal/PARTNER_ID.jsonl`` as one JSON line the moment the 2xx
arrives, and the file is emptied once the store has recorded the batch. Each run,
before it commits new leads, and each delivery to the partner, before it reads the
due transfers, first records what the journal lists.

Each line is written with one ``write`` call on a file opened for appending, which
survives the process being killed. It does not survive a power cut, because the
journal is not fsynced: a send is then posted again with the same ``webhook-id``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JOURNAL_KEYS = ("transfer_id", "sent_at", "attempts", "channel", "run_id")
"""Keys of one journal line: the columns that ``mark_transfers_sent`` reads."""


class SentJournal:
    """The journal file of one partner: :meth:`open` it before :meth:`append`."""

    def __init__(self, folder: Path, partner_id: str) -> None:
        self.partner_id = partner_id
        self.path = folder / f"{partner_id}.jsonl"
        self._fd: int | None = None

    def open(self) -> None:
        """Open the file for appending, creating it and its folder when missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def close(self) -> None:
        if self._fd is None:
            return
        # An empty journal is removed, so the folder lists only partners with
        # sends that the store has not recorded.
        if os.fstat(self._fd).st_size == 0:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def remove(self) -> None:
        """Delete the file, after the store has recorded every send it lists."""
        self.path.unlink(missing_ok=True)

    def append(self, entry: dict[str, Any]) -> None:
        """Add one accepted send. Its ``sent_at`` is a timezone-aware datetime."""
        line = {key: entry[key] for key in JOURNAL_KEYS}
        line["sent_at"] = entry["sent_at"].isoformat()
        data = json.dumps(line, separators=(",", ":")).encode("utf-8") + b"\n"
        os.write(self._fd, data)

    def clear(self) -> None:
        """Empty the file, after the store has recorded every send it lists."""
        os.ftruncate(self._fd, 0)

    def entries(self) -> list[dict[str, Any]]:
        """Return the sends listed, with ``sent_at`` parsed, skipping invalid lines.

        A line is torn only when the machine stopped during its ``write``, and
        otherwise invalid only when someone edited the file. Its send is then not
        recorded here, and goes out again with the same id.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        entries = []
        for number, raw in enumerate(data.splitlines(), start=1):
            if not raw.strip():
                continue
            entry = _parse_line(raw)
            if entry is None:
                log.warning(
                    "%s: line %d is not a complete journal entry and is skipped; "
                    "its transfer stays pending and is sent again with its "
                    "webhook-id",
                    self.path,
                    number,
                )
                continue
            entries.append(entry)
        return entries


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """Return one journal line's send, or None when the line is not a valid one."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict) or set(JOURNAL_KEYS) - entry.keys():
        return None
    attempts = entry["attempts"]
    valid = (
        isinstance(entry["transfer_id"], str)
        and isinstance(entry["channel"], str)
        and isinstance(entry["run_id"], str | None)
        and isinstance(attempts, int)
        and not isinstance(attempts, bool)
        and attempts >= 0
        and isinstance(entry["sent_at"], str)
    )
    if not valid:
        return None
    try:
        sent_at = dt.datetime.fromisoformat(entry["sent_at"])
    except ValueError:
        return None
    if sent_at.tzinfo is None:
        return None
    return {key: entry[key] for key in JOURNAL_KEYS} | {"sent_at": sent_at}
