"""Run summaries: outcome counts per input row and per-partner transfer tables."""

from __future__ import annotations

import logging
import os

from leadshare.delivery import DeliverySummary
from leadshare.model import Outcome
from leadshare.pipeline import RunContext, archived_path
from leadshare.words import counted

log = logging.getLogger(__name__)


def run_summary(
    ctx: RunContext,
    deliveries: list[DeliverySummary],
    failed_tasks: dict[str, str] | None = None,
) -> dict:
    """Return the JSON summary of a run, read back from the store.

    Reading the store (not the in-memory batches) keeps the summary right when Prefect
    retries the flow run: the retry finds the files already committed under the same
    run id, and a partner's ``sent`` and ``failed`` count every attempt's sends.
    ``failed_tasks`` maps each partner whose delivery task raised to its error.
    """
    outcomes = {outcome.value: 0 for outcome in Outcome}
    for row in ctx.store.rows("outcome_counts", run_id=ctx.run_id):
        outcomes[row["outcome"]] = int(row["n"])
    files = ctx.store.rows("run_files", run_id=ctx.run_id)
    # Rows counted in the files when they were read, so that comparing them with
    # the outcomes checks that every row got one.
    rows_in = sum(int(f["rows_in"] or 0) for f in files if f["status"] == "committed")
    if rows_in != sum(outcomes.values()):
        log.error(
            "Run %s read %d rows but recorded %d row outcomes",
            ctx.run_id,
            rows_in,
            sum(outcomes.values()),
        )
    by_partner = {
        row["partner_id"]: row
        for row in ctx.store.rows("transfer_counts", run_id=ctx.run_id)
    }
    failed_leads: dict[str, list[dict]] = {}
    for row in ctx.store.rows("run_failed_transfers", run_id=ctx.run_id):
        failed_leads.setdefault(row["partner_id"], []).append(row)
    failed_tasks = failed_tasks or {}
    delivered = {delivery.partner_id: delivery for delivery in deliveries}
    partners = []
    for partner in ctx.config.partners:
        if partner.id in failed_tasks:
            counts = by_partner.get(partner.id, {})
            # The task stopped before or while sending, so every pending transfer
            # waits for a later run.
            delivery = DeliverySummary(
                partner_id=partner.id,
                channel=partner.channel,
                waiting=_count(counts, "pending"),
                error=failed_tasks[partner.id],
                waiting_reason=failed_tasks[partner.id],
            )
        elif partner.id in delivered:
            delivery = delivered[partner.id]
        else:
            continue
        row = _partner_row(delivery, by_partner.get(partner.id, {}))
        _add_failed_leads(row, failed_leads.get(partner.id, []))
        partners.append(row)
    partners.extend(_unconfigured_partners(ctx, by_partner))
    return {
        "run_id": ctx.run_id,
        "files": [
            {"file": f["file_name"], "profile": f["profile"], "rows_in": f["rows_in"]}
            for f in files
            if f["status"] == "committed"
        ],
        "rejected_files": [
            {
                "file": f["file_name"],
                "reason": f["reason"],
                "quarantined_as": _quarantined_as(ctx, f),
            }
            for f in files
            if f["status"] == "rejected"
        ],
        "skipped_files": [
            {
                "file": f["file_name"],
                "reason": f"same content as {f['earlier_name']} (profile "
                f"{f['earlier_profile']}), {f['earlier_status']} in run "
                f"{f['earlier_run']}; archived without reading it again",
            }
            for f in ctx.store.rows("run_skipped_files", run_id=ctx.run_id)
        ],
        "taken_over_runs": [
            row["run_id"] for row in ctx.store.rows("taken_over_runs", run_id=ctx.run_id)
        ],
        "rows_in": rows_in,
        "outcomes": outcomes,
        "partners": partners,
        "errors": list(ctx.errors),
        "warnings": list(ctx.warnings),
        # Held by any run, so that each summary reminds of the whole queue.
        "approvals_waiting": int(ctx.store.rows("approval_queue_size")[0]["n"]),
        "opted_out_after_delivery": _opted_out_after_delivery(ctx),
    }


def _opted_out_after_delivery(ctx: RunContext) -> dict[str, list[str]]:
    """Return, per partner, the leads it received whose person opted out in this run.

    Each such partner needs a notice, because the lead has left leadshare already.
    """
    found: dict[str, list[str]] = {}
    for row in ctx.store.rows("opted_out_after_delivery", run_id=ctx.run_id):
        found.setdefault(row["partner_id"], []).append(row["lead_id"])
    return found


def _quarantined_as(ctx: RunContext, file: dict) -> str | None:
    """Return the path of a rejected file in quarantine/, or None if it is not there.

    A file stays in the inbox when quarantine/ cannot be written, and the run's
    errors name it.
    """
    path = archived_path(
        ctx.settings, "rejected", file["profile"], file["file_id"], file["file_name"]
    )
    return str(path) if os.path.lexists(path) else None


def _count(counts: dict, column: str) -> int:
    return int(counts.get(column, 0) or 0)


def _partner_row(delivery: DeliverySummary, counts: dict) -> dict:
    """Return a partner's table row: store counts for the flow run, task counts now.

    ``offered``, ``sent`` and ``failed`` come from the store and cover every
    attempt of the flow run. ``retry_later`` and ``waiting`` describe the transfers
    the last attempt left pending.
    """
    return {
        "partner": delivery.partner_id,
        "channel": delivery.channel,
        "offered": _count(counts, "offered"),
        "sent": _count(counts, "sent"),
        "failed": _count(counts, "failed"),
        "retry_later": delivery.retry_later,
        "waiting": delivery.waiting,
        "pending_total": _count(counts, "pending"),
        "error": delivery.error,
        # Set only where transfers were left waiting; after a redirect the one
        # transfer that was tried counts as retry_later, not waiting.
        "waiting_reason": delivery.waiting_reason,
    }


def _add_failed_leads(row: dict, failed: list[dict]) -> None:
    """Add the leads whose transfers this run failed for good, and the first error.

    The partner rejected these transfers, and no run sends them again, so the
    leads reach no partner unless someone acts.
    """
    row["failed_leads"] = [transfer["lead_id"] for transfer in failed]
    row["failed_reason"] = failed[0]["last_error"] if failed else None


def _unconfigured_partners(
    ctx: RunContext, by_partner: dict[str, dict]
) -> list[dict]:
    """Log and return table rows for partners missing from partners.yaml.

    A partner removed from partners.yaml keeps its pending transfers, and no run
    delivers them. Each such partner gets one warning per run and a row whose
    pending transfers all count as waiting, with the same keys as the other rows.
    """
    configured = {partner.id for partner in ctx.config.partners}
    channels: dict[str, list[str]] = {}
    pending: dict[str, int] = {}
    for row in ctx.store.rows("pending_by_partner"):
        partner_id = row["partner_id"]
        if partner_id in configured:
            continue
        channels.setdefault(partner_id, []).append(row["channel"])
        pending[partner_id] = pending.get(partner_id, 0) + int(row["pending"])

    rows = []
    for partner_id, count in pending.items():
        log.warning(
            "Partner %s is not in partners.yaml but has %s in the outbox. They wait "
            "until the partner is added back to partners.yaml, or until someone "
            "handles them by hand",
            partner_id,
            counted(count, "pending transfer"),
        )
        counts = by_partner.get(partner_id, {})
        rows.append(
            {
                "partner": partner_id,
                # Normally one channel. It is a comma-separated list only when the
                # partner's channel changed while transfers were pending.
                "channel": ",".join(channels[partner_id]),
                "offered": int(counts.get("offered", 0) or 0),
                "sent": 0,
                "failed": 0,
                "retry_later": 0,
                "waiting": count,
                "pending_total": count,
                "error": None,
                "waiting_reason": "the partner is not in partners.yaml",
                "failed_leads": [],
                "failed_reason": None,
            }
        )
    return rows


def summary_errors(
    summary: dict, other_rejected: list[dict] | None = None
) -> list[str]:
    """Return the run's errors that need a fix by hand, one line each.

    These are the run's ``errors``, each partner row's ``error``, whose transfers
    wait in the outbox until someone fixes the cause, and one line for the files
    rejected whole: the run's ``rejected_files`` and ``other_rejected`` (files of
    the caller that another run rejected).
    """
    errors = list(summary.get("errors") or [])
    for row in summary.get("partners", []):
        if row.get("error"):
            partner, error = row["partner"], row["error"]
            errors.append(f"deliveries to partner {partner} wait: {error}")
    rejected = [*(summary.get("rejected_files") or []), *(other_rejected or [])]
    if rejected:
        # The reasons are in the summary's rejected_files and in the reason files.
        errors.append(
            f"{counted(len(rejected), 'file was', 'files were')} rejected whole and "
            "moved to quarantine/ with a reason file: "
            + ", ".join(item["file"] for item in rejected)
            + ". Fix each one and put it in the inbox again"
        )
    return errors


def slack_summary(summary: dict) -> str | None:
    """Return a one-message summary of a run: counts and partner ids only.

    A partner is named when its deliveries failed, wait or will be retried. A run
    with no rows in, no deliveries and no errors or warnings returns None, so an
    hourly schedule posts only when there is something to read.
    """
    troubled = []
    for row in summary["partners"]:
        counts = [
            f"{row[key]:,} {word}"
            for key, word in (
                ("failed", "failed"),
                ("waiting", "waiting"),
                ("retry_later", "to retry"),
            )
            if row[key]
        ]
        if row.get("error") and not counts:
            counts.append("stopped")
        if counts:
            troubled.append(f"{row['partner']} ({', '.join(counts)})")
    sent = sum(row["sent"] for row in summary["partners"])
    problems = summary.get("errors") or summary.get("warnings")
    rejected = len(summary.get("rejected_files") or [])
    notices = summary.get("opted_out_after_delivery")
    if not (summary["rows_in"] or sent or troubled or problems or rejected or notices):
        return None
    nonzero = ", ".join(
        f"{name} {count:,}" for name, count in summary["outcomes"].items() if count
    )
    text = (
        f"leadshare run {summary['run_id']}: {counted(summary['rows_in'], 'row')} in "
        f"({nonzero or 'nothing new'}), {counted(sent, 'transfer')} sent."
    )
    if rejected:
        # File names are left out: a name can contain a person's name.
        text += (
            f" {counted(rejected, 'file was', 'files were')} rejected whole and "
            "moved to quarantine/: `leadshare status --json` has the reasons."
        )
    if troubled:
        text += f" Partners with failed or waiting deliveries: {', '.join(troubled)}."
    notices = summary.get("opted_out_after_delivery") or {}
    if notices:
        partners = ", ".join(
            f"{partner} {len(ids):,}" for partner, ids in notices.items()
        )
        total = sum(len(ids) for ids in notices.values())
        text += (
            f" {counted(total, 'lead')} whose person opted out in this run had "
            f"reached partners before ({partners}). Tell them: the summary's "
            "`opted_out_after_delivery` lists the lead ids."
        )
    if summary.get("approvals_waiting"):
        text += (
            f" {counted(summary['approvals_waiting'], 'lead')} in the approval queue: "
            "`leadshare approvals list`."
        )
    if problems:
        text += (
            f" {counted(len(summary.get('errors') or []), 'error')} and "
            f"{counted(len(summary.get('warnings') or []), 'warning')}: "
            "`leadshare status --json` has them."
        )
    return text


def approval_reminder(summary: dict) -> str | None:
    """Return a reminder of the approval queue for a run that posts nothing else.

    The hourly run posts only when something happened, so without it a lead could
    wait for an approver for days with no word in Slack.
    """
    waiting = summary.get("approvals_waiting")
    if not waiting:
        return None
    return (
        f"leadshare run {summary['run_id']}: nothing new. "
        f"{counted(waiting, 'lead')} in the approval queue: "
        "`leadshare approvals list`."
    )
