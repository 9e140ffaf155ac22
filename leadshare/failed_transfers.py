"""Sending again the transfers that partners rejected for good.

A 4xx response other than 408, 409, 425, 429, 401, 403 and 410 fails a transfer
for good, because sending the same body again gets the same response. Once the
partner has fixed the cause on its side, `leadshare transfer retry` puts such
transfers back in the outbox, and the next run sends each with its first
webhook-id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leadshare.errors import LeadshareError
from leadshare.store import LeadStore
from leadshare.words import counted


@dataclass
class RetryResult:
    """The failed transfers put back in the outbox, and those left failed."""

    by_partner: dict[str, int] = field(default_factory=dict)
    opted_out: int = 0
    """Failed transfers that matched but stay failed: their person opted out since."""


def retry_failed(
    store: LeadStore, partner_id: str | None, lead_ids: list[str]
) -> RetryResult:
    """Put the failed transfers of ``partner_id`` and of ``lead_ids`` back as pending.

    Either may be empty (any partner, any lead), but not both. Raises
    LeadshareError for a lead id that has no transfer at all.
    """
    if not partner_id and not lead_ids:
        raise LeadshareError(
            "name the transfers to send again: lead ids, --partner ID, or both"
        )
    result = RetryResult()
    with store.transaction() as tx:
        for lead_id in lead_ids:
            if not tx.rows("lead_transfers", lead_id=lead_id):
                raise LeadshareError(
                    f"lead {lead_id} has no transfer to any partner. Lead ids look "
                    "like L-0123456789abcdef; `leadshare explain LEAD_ID` shows a "
                    "lead's transfers. Nothing was changed"
                )
        for lead_id in lead_ids or [None]:
            params = {"partner_id": partner_id, "lead_id": lead_id}
            for row in tx.rows("retry_failed_transfers", **params):
                partner = row["partner_id"]
                result.by_partner[partner] = result.by_partner.get(partner, 0) + 1
            result.opted_out += int(tx.rows("failed_opted_out", **params)[0]["n"])
    return result


def retry_text(result: RetryResult) -> str:
    """Describe what :func:`retry_failed` did, in one or two sentences."""
    total = sum(result.by_partner.values())
    if total:
        partners = ", ".join(
            f"{partner} {count:,}" for partner, count in sorted(result.by_partner.items())
        )
        text = (
            f"{counted(total, 'failed transfer')} back in the outbox ({partners}). "
            "The next run sends each with its first webhook-id."
        )
    else:
        text = "No failed transfer matches; nothing to do."
    if result.opted_out:
        verb = "stays" if result.opted_out == 1 else "stay"
        text += (
            f" {counted(result.opted_out, 'failed transfer')} {verb} failed, because "
            "the person opted out since."
        )
    return text
