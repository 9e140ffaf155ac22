"""`leadshare rows`: a file found by content, name or id, its rows paged in order."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa

from leadshare import file_rows
from leadshare.errors import LeadshareError
from leadshare.pipeline import sha256_file
from leadshare.store import open_store

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def recorded(tmp_path):
    """A store with one committed file of 7 rows and one rejected file."""
    lead_file = tmp_path / "leads.csv"
    lead_file.write_text("email\na@x.example\n", encoding="utf-8")
    file_id = sha256_file(lead_file)[:32]
    store = open_store("duckdb:///:memory:")
    outcomes = [
        "shared", "duplicate", "shared", "quarantined", "shared", "suppressed", "shared"
    ]
    with store.transaction() as tx:
        run = tx.connection.execute
        for fid, name, status, reason in (
            (file_id, "leads.csv", "committed", None),
            ("f" * 32, "empty.csv", "rejected", "the file is empty"),
        ):
            run(
                sa.text(
                    "insert into source_files (file_id, file_name, profile, status, "
                    "reason, rows_in, run_id, received_at, committed_at) values "
                    "(:fid, :name, 'generic', :status, :reason, 7, 'run-1', :now, "
                    "case when :status = 'committed' then :now end)"
                ),
                {
                    "fid": fid,
                    "name": name,
                    "status": status,
                    "reason": reason,
                    "now": NOW,
                },
            )
        for row, outcome in enumerate(outcomes, start=1):
            lead = "L-1" if outcome == "duplicate" else f"L-{row}"
            run(
                sa.text(
                    "insert into row_outcomes values (:fid, :row, :outcome, :rule, "
                    "'why', :lead, 'run-1')"
                ),
                {
                    "fid": file_id,
                    "row": row,
                    "outcome": outcome,
                    "rule": None if outcome == "shared" else f"rule_{row}",
                    "lead": lead,
                },
            )
        for lead, partner, status, minutes in (
            ("L-1", "P-B", "sent", 1),
            ("L-1", "P-A", "pending", 2),
            ("L-3", "P-A", "sent", 1),
        ):
            run(
                sa.text(
                    "insert into transfers (transfer_id, lead_id, partner_id, channel, "
                    "status, attempts, run_id, created_at) values (:tid, :lead, "
                    ":partner, 'webhook', :status, 1, 'run-1', :at)"
                ),
                {
                    "tid": f"T-{lead}-{partner}",
                    "lead": lead,
                    "partner": partner,
                    "status": status,
                    "at": NOW + dt.timedelta(minutes=minutes),
                },
            )
    return store, lead_file, file_id


def test_file_found_by_content_name_and_id(recorded, tmp_path):
    store, lead_file, file_id = recorded
    renamed = tmp_path / "copy-of-leads.csv"
    renamed.write_bytes(lead_file.read_bytes())
    other = tmp_path / "other.csv"
    other.write_text("email\nb@x.example\n", encoding="utf-8")

    for name_or_path in (str(renamed), "leads.csv", file_id.upper()):
        found = file_rows.find_files(store, name_or_path)
        assert [f["file_id"] for f in found] == [file_id]
    assert file_rows.find_files(store, str(other)) == []
    assert "No run has read" in file_rows.not_found_text(str(other))


def test_rows_paged_in_order_with_transfers(recorded, monkeypatch):
    store, _, file_id = recorded
    monkeypatch.setattr(file_rows, "PAGE_ROWS", 2)

    every = list(file_rows.file_rows(store, file_id, None, None))
    shared = list(file_rows.file_rows(store, file_id, "shared", 3))

    assert [row["row"] for row in every] == [1, 2, 3, 4, 5, 6, 7]
    assert every[0]["transfers"] == [
        {"partner_id": "P-B", "status": "sent"},
        {"partner_id": "P-A", "status": "pending"},
    ]
    # A duplicate row points at L-1 too, but it was not shared itself.
    assert every[1]["lead_id"] == "L-1"
    assert every[1]["transfers"] == []
    assert [row["row"] for row in shared] == [1, 3, 5]


def test_lines_and_json(recorded):
    store, _, file_id = recorded
    (found,) = file_rows.find_files(store, "leads.csv")
    document = file_rows.file_document(store, found, "shared")
    lines = list(
        file_rows.file_lines(
            document, file_rows.file_rows(store, file_id, "shared", 1), "shared"
        )
    )
    out = io.StringIO()
    file_rows.write_json(
        [document, document],
        [file_rows.file_rows(store, file_id, None, 2), iter([])],
        out,
    )

    assert document["rows_matching"] == 4
    assert lines[1] == "  7 rows: shared 4, duplicate 1, suppressed 1, quarantined 1"
    assert lines[2] == "  row 1: shared, L-1, to P-B, P-A (pending)"
    assert lines[3].startswith("  ... and 3 more rows;")
    files = json.loads(out.getvalue())["files"]
    assert [len(f["rows"]) for f in files] == [2, 0]
    assert files[0]["rows"][1]["outcome"] == "duplicate"


def test_rejected_file_and_unknown_outcome(recorded):
    store, _, _ = recorded
    (found,) = file_rows.find_files(store, "empty.csv")
    lines = list(
        file_rows.file_lines(file_rows.file_document(store, found, None), [], None)
    )

    assert lines[1] == "  rejected: the file is empty. No row of it has an outcome"
    with pytest.raises(LeadshareError, match="'sent' is not an outcome"):
        file_rows.check_outcome("sent")
    assert file_rows.check_outcome("Quarantined") == "quarantined"
