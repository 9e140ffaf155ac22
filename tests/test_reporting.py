"""The run summary's per-partner table, read back from a real DuckDB store."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import pytest

from leadshare.cli import PARTNER_COLUMNS
from leadshare.config import Partner
from leadshare.delivery import DeliverySummary
from leadshare.model import Outcome
from leadshare.reporting import run_summary, slack_summary, summary_errors
from leadshare.store import open_store

NOW = dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC)
TABLE_KEYS = {
    *PARTNER_COLUMNS,
    "pending_total",
    "error",
    "waiting_reason",
    "failed_leads",
    "failed_reason",
}


def _partner(partner_id: str) -> Partner:
    return Partner(
        id=partner_id,
        name=partner_id,
        capacity_per_day=10,
        capacity_per_week=10,
        channel="file_drop",
        fields=["lead_id"],
    )


@pytest.fixture
def store(tmp_path):
    """A store with pending transfers for P-KEPT (1) and P-GONE (2), one sent."""
    store = open_store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    transfers = [
        ("msg_0", "P-KEPT", "pending"),
        ("msg_1", "P-GONE", "pending"),
        ("msg_2", "P-GONE", "pending"),
        ("msg_3", "P-GONE", "sent"),
    ]
    with store.transaction() as tx:
        for index, (transfer_id, partner_id, status) in enumerate(transfers):
            lead_id = f"L-{index}"
            tx.connection.exec_driver_sql(
                "insert into leads (lead_id, file_id, source_row, profile, "
                f"created_at) values ('{lead_id}', 'f', {index + 1}, 'generic', now())"
            )
            tx.execute(
                "add_transfer",
                transfer_id=transfer_id,
                lead_id=lead_id,
                partner_id=partner_id,
                channel="file_drop",
                created_at=NOW,
                run_id="r0",
            )
            tx.connection.exec_driver_sql(
                f"update transfers set status = '{status}' "
                f"where transfer_id = '{transfer_id}'"
            )
    return store


def _start_run(store, run_id: str, started_at: dt.datetime) -> None:
    with store.transaction() as tx:
        tx.execute(
            "start_run", run_id=run_id, flow_run_id=run_id, started_at=started_at
        )


def _set_transfer(
    store, transfer_id: str, status: str, at: dt.datetime, run_id: str
) -> None:
    """Mark a transfer sent or failed at ``at`` by the run ``run_id``."""
    column = "sent" if status == "sent" else "failed"
    with store.transaction() as tx:
        tx.connection.exec_driver_sql(
            f"update transfers set status = '{status}', "
            f"{column}_at = '{at.isoformat()}', {column}_by_run = '{run_id}' "
            f"where transfer_id = '{transfer_id}'"
        )


def _context(store, partners: list[Partner]) -> SimpleNamespace:
    return SimpleNamespace(
        store=store,
        run_id="r1",
        now=NOW,
        errors=[],
        warnings=[],
        config=SimpleNamespace(partners=partners),
    )


def test_removed_partner_listed_as_waiting(store, caplog):
    ctx = _context(store, [_partner("P-KEPT")])
    deliveries = [DeliverySummary(partner_id="P-KEPT", channel="file_drop", sent=1)]

    with caplog.at_level(logging.WARNING, logger="leadshare.reporting"):
        summary = run_summary(ctx, deliveries)

    by_partner = {row["partner"]: row for row in summary["partners"]}
    assert list(by_partner) == ["P-KEPT", "P-GONE"]
    removed = by_partner["P-GONE"]
    assert set(removed) == TABLE_KEYS
    assert set(by_partner["P-KEPT"]) == TABLE_KEYS
    assert removed["channel"] == "file_drop"
    assert removed["waiting"] == 2
    assert removed["waiting_reason"] == "the partner is not in partners.yaml"
    assert removed["pending_total"] == 2
    assert removed["sent"] == 0
    assert removed["failed"] == 0
    assert removed["retry_later"] == 0
    assert removed["failed_leads"] == []
    assert set(summary["outcomes"]) == {outcome.value for outcome in Outcome}

    warnings = [r.getMessage() for r in caplog.records if "P-GONE" in r.getMessage()]
    assert len(warnings) == 1
    assert "not in partners.yaml" in warnings[0]
    assert "2 pending transfers" in warnings[0]
    assert "by hand" in warnings[0]


def test_configured_partners_not_warned(store, caplog):
    ctx = _context(store, [_partner("P-KEPT"), _partner("P-GONE")])

    with caplog.at_level(logging.WARNING, logger="leadshare.reporting"):
        summary = run_summary(ctx, [])

    assert summary["partners"] == []
    assert "not in partners.yaml" not in caplog.text


def test_failed_task_partner_has_row(store):
    ctx = _context(store, [_partner("P-KEPT"), _partner("P-GONE")])
    deliveries = [DeliverySummary(partner_id="P-KEPT", channel="file_drop")]

    summary = run_summary(
        ctx, deliveries, {"P-GONE": "delivery task failed: OSError: disk"}
    )

    by_partner = {row["partner"]: row for row in summary["partners"]}
    assert list(by_partner) == ["P-KEPT", "P-GONE"]
    failed = by_partner["P-GONE"]
    assert set(failed) == TABLE_KEYS
    assert failed["channel"] == "file_drop"
    assert failed["waiting"] == 2
    assert failed["pending_total"] == 2
    assert failed["sent"] == 0
    assert failed["retry_later"] == 0
    assert failed["error"] == "delivery task failed: OSError: disk"
    assert by_partner["P-KEPT"]["error"] is None


def test_sent_counts_every_attempt(store):
    """A retried flow run's row counts sends of its earlier attempts too."""
    started = NOW + dt.timedelta(hours=1)
    _start_run(store, "r1", started)
    # msg_3 was sent before the run started, msg_1 in the run's first attempt and
    # msg_2 failed for good in it. The retry finds nothing left to send.
    _set_transfer(store, "msg_1", "sent", started + dt.timedelta(minutes=1), "r1")
    _set_transfer(store, "msg_2", "failed", started + dt.timedelta(minutes=1), "r1")
    ctx = _context(store, [_partner("P-KEPT"), _partner("P-GONE")])
    retry = [
        DeliverySummary(partner_id="P-KEPT", channel="file_drop"),
        DeliverySummary(partner_id="P-GONE", channel="file_drop"),
    ]

    summary = run_summary(ctx, retry)

    by_partner = {row["partner"]: row for row in summary["partners"]}
    assert by_partner["P-GONE"]["sent"] == 1
    assert by_partner["P-GONE"]["failed"] == 1
    assert by_partner["P-GONE"]["pending_total"] == 0
    assert by_partner["P-KEPT"]["sent"] == 0
    assert by_partner["P-KEPT"]["pending_total"] == 1


def _summary(rows_in: int = 0, **partner_counts: int) -> dict:
    quiet = {"partner": "P-B", "sent": 0, "failed": 0, "waiting": 0, "retry_later": 0}
    counted_row = {**quiet, "partner": "P-A", **partner_counts}
    return {
        "run_id": "run-1",
        "rows_in": rows_in,
        "outcomes": {"shared": rows_in},
        "partners": [counted_row, quiet],
        "errors": [],
        "warnings": [],
    }


def test_slack_quiet_run_posts_nothing():
    assert slack_summary(_summary()) is None


def test_slack_names_partners_to_retry():
    text = slack_summary(_summary(retry_later=3, waiting=1))

    assert text == (
        "leadshare run run-1: 0 rows in (nothing new), 0 transfers sent. Partners "
        "with failed or waiting deliveries: P-A (1 waiting, 3 to retry)."
    )


def test_slack_counts_errors_and_sends():
    summary = _summary(rows_in=2, sent=2)
    summary["warnings"] = ["dedup: ..."]

    text = slack_summary(summary)

    assert text == (
        "leadshare run run-1: 2 rows in (shared 2), 2 transfers sent. 0 errors and "
        "1 warning: `leadshare status --json` has them."
    )


def test_slack_counts_rejected_files():
    summary = _summary()
    summary["rejected_files"] = [{"file": "ann.lee.csv", "reason": "empty"}]

    text = slack_summary(summary)
    errors = summary_errors(summary)

    assert text == (
        "leadshare run run-1: 0 rows in (nothing new), 0 transfers sent. 1 file was "
        "rejected whole and moved to quarantine/: `leadshare status --json` has the "
        "reasons."
    )
    assert errors == [
        "1 file was rejected whole and moved to quarantine/ with a reason file: "
        "ann.lee.csv. Fix each one and put it in the inbox again"
    ]


def test_summary_counts_whole_approval_queue(store):
    with store.transaction() as tx:
        for lead_id, status in (
            ("L-a", "pending"),
            ("L-b", "pending"),
            ("L-c", "rejected"),
        ):
            tx.connection.exec_driver_sql(
                "insert into approvals (lead_id, status, created_at) "
                f"values ('{lead_id}', '{status}', now())"
            )

    summary = run_summary(_context(store, [_partner("P-A")]), [])
    text = slack_summary({**summary, "rows_in": 1})

    assert summary["approvals_waiting"] == 2
    assert text.endswith(" 2 leads in the approval queue: `leadshare approvals list`.")
