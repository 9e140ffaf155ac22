"""Run summaries: outcome counts per input row and per-partner transfer tables."""

from __future__ import annotations

from leadshare.delivery import DeliverySummary
from leadshare.model import Outcome
from leadshare.pipeline import BatchCounts, RunContext


def run_summary(
    ctx: RunContext, batches: list[BatchCounts], deliveries: list[DeliverySummary], rejected: list[str]
) -> dict:
    """Return the JSON summary of a run; its outcome counts add up to ``rows_in``."""
    outcomes = {outcome.value: 0 for outcome in Outcome}
    for batch in batches:
        for name, count in batch.outcomes.items():
            outcomes[name] += int(count)
    rows_in = sum(batch.rows_in for batch in batches)
    by_partner = {row["partner_id"]: row for row in ctx.store.rows("transfer_counts", run_id=ctx.run_id)}
    partners = []
    for delivery in deliveries:
        counts = by_partner.get(delivery.partner_id, {})
        partners.append(
            {
                "partner": delivery.partner_id,
                "channel": delivery.channel,
                "offered": int(counts.get("offered", 0) or 0),
                "sent": delivery.sent,
                "failed": delivery.failed,
                "retry_later": delivery.retry_later,
                "waiting": delivery.waiting,
                "pending_total": int(counts.get("pending", 0) or 0),
            }
        )
    return {
        "run_id": ctx.run_id,
        "files": [{"file": b.file_name, "rows_in": b.rows_in} for b in batches],
        "rejected_files": rejected,
        "rows_in": rows_in,
        "outcomes": outcomes,
        "outcomes_total": sum(outcomes.values()),
        "partners": partners,
    }
