"""Transfers that partners rejected for good, sent again or offered elsewhere.

A 4xx response other than 408, 409, 425, 429, 401, 403 and 410 fails a transfer
for good, because sending the same body again gets the same response. Once the
partner has fixed the cause on its side, `leadshare transfer retry` puts such
transfers back in the outbox, and the next run sends each with its first
webhook-id. When the partner does not want the lead, `leadshare transfer reoffer`
sends the lead back to the backlog, and the next run offers it to the other
eligible partners.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from leadshare.errors import LeadshareError
from leadshare.store import LeadStore, StoreTransaction
from leadshare.words import counted


@dataclass
class RetryResult:
    """The failed transfers put back in the outbox, and those left failed."""

    by_partner: dict[str, int] = field(default_factory=dict)
    opted_out: int = 0
    """Failed transfers that matched but stay failed: their person opted out since."""
    released: int = 0
    """Leads released from a consent hold (sql/hold_unclear_consent.sql)."""


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
        _check_lead_ids(tx, lead_ids)
        for lead_id in lead_ids or [None]:
            params = {"partner_id": partner_id, "lead_id": lead_id}
            # Retrying is the user's word that the unclear value is no opt-out.
            result.released += len(tx.rows("release_consent_holds", **params))
            for row in tx.rows("retry_failed_transfers", **params):
                partner = row["partner_id"]
                result.by_partner[partner] = result.by_partner.get(partner, 0) + 1
            result.opted_out += int(tx.rows("failed_opted_out", **params)[0]["n"])
    return result


def _check_lead_ids(tx: StoreTransaction, lead_ids: list[str]) -> None:
    """Raise LeadshareError for the first lead id with no transfer and no hold."""
    for lead_id in lead_ids:
        if tx.rows("consent_hold", lead_id=lead_id):
            continue
        if not tx.rows("lead_transfers", lead_id=lead_id):
            raise LeadshareError(
                f"lead {lead_id} has no transfer to any partner. Lead ids look "
                "like L-0123456789abcdef; `leadshare explain LEAD_ID` shows a "
                "lead's transfers. Nothing was changed"
            )


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
    elif not result.released:
        text = "No failed transfer matches; nothing to do."
    else:
        text = "No failed transfer matches."
    if result.released:
        text += (
            f" {counted(result.released, 'lead')} released from a consent hold: "
            "the next runs place and send them as usual."
        )
    if result.opted_out:
        verb = "stays" if result.opted_out == 1 else "stay"
        text += (
            f" {counted(result.opted_out, 'failed transfer')} {verb} failed, because "
            "the person opted out since."
        )
    return text


@dataclass
class ReofferResult:
    """Counts of the leads of failed transfers: sent back, or left as they were."""

    by_partner: dict[str, int] = field(default_factory=dict)
    """Leads sent back, by the partner whose transfer failed."""
    too_old: int = 0
    """Leads read before the backlog window, which no run offers again."""


def reoffer_failed(
    store: LeadStore,
    partner_id: str | None,
    lead_ids: list[str],
    since: dt.datetime,
) -> ReofferResult:
    """Send the leads of failed transfers back to the backlog, for other partners.

    The transfers are those of ``partner_id`` and of ``lead_ids``. Each lead's row
    outcome becomes no_eligible_partner with the rule rejected_by_partner, and its
    failed transfers stay as they are, so the match leaves their partners out.
    Leads read before ``since`` (the backlog window) stay unchanged. Raises
    LeadshareError as :func:`retry_failed` does.
    """
    if not partner_id and not lead_ids:
        raise LeadshareError(
            "name the transfers whose leads to offer again: lead ids, --partner ID, "
            "or both"
        )
    result = ReofferResult()
    with store.transaction() as tx:
        _check_lead_ids(tx, lead_ids)
        found = [
            row
            for lead_id in lead_ids or [None]
            for row in tx.rows(
                "reofferable_transfers",
                partner_id=partner_id,
                lead_id=lead_id,
                since=since,
            )
        ]
        reasons: dict[str, list[str]] = {}
        for row in found:
            if not row["in_window"]:
                result.too_old += 1
                continue
            partner = row["partner_id"]
            error = row["last_error"] or "no error recorded"
            reasons.setdefault(row["lead_id"], []).append(f"{partner} ({error})")
            result.by_partner[partner] = result.by_partner.get(partner, 0) + 1
        if reasons:
            incoming = pd.DataFrame(
                {
                    "lead_id": list(reasons),
                    "reason": [
                        "rejected by partner "
                        + "; ".join(texts)
                        + ", so offered to the other partners"
                        for texts in reasons.values()
                    ],
                }
            )
            tx.execute_with_frame("reoffer_leads", incoming)
    return result


def reoffer_text(result: ReofferResult) -> str:
    """Describe what :func:`reoffer_failed` did, in one or two sentences."""
    total = sum(result.by_partner.values())
    if total:
        counts = sorted(result.by_partner.items())
        partners = ", ".join(f"{partner} {count:,}" for partner, count in counts)
        text = (
            f"{counted(total, 'lead')} back in the backlog (rejected by {partners}). "
            "The next run offers each to the other eligible partners."
        )
    else:
        text = (
            "No failed transfer matches whose lead can go to another partner; "
            "nothing to do."
        )
    if result.too_old:
        text += (
            f" {counted(result.too_old, 'lead')} read before the backlog window "
            "(the freshness days of rules.yaml, or 30) stay as they are."
        )
    return text
