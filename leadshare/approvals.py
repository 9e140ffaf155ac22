"""The approval queue for strategic accounts: approve, reassign or reject."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from leadshare.config import Config
from leadshare.errors import LeadshareError
from leadshare.model import Outcome
from leadshare.pipeline import transfer_id_for
from leadshare.store import LeadStore


class ApprovalError(LeadshareError, ValueError):
    """An approval decision cannot be applied."""


class ApprovalDecision(BaseModel):
    """One approver's decision on one strategic lead (the form in the Prefect UI)."""

    lead_id: str
    action: Literal["approve", "reassign", "reject"]
    partner_id: str | None = Field(default=None, description="Required for reassign")
    approver: str
    note: str = ""


def pending(store: LeadStore) -> list[dict]:
    return store.rows("pending_approvals")


def decide(
    store: LeadStore,
    config: Config,
    decision: ApprovalDecision,
    run_id: str,
    now: dt.datetime,
) -> str:
    """Apply one decision; return a sentence saying what happened."""
    found = store.rows("approval_by_lead", lead_id=decision.lead_id)
    if not found:
        raise ApprovalError(
            f"lead {decision.lead_id} is not in the approval queue; see `leadshare approvals list`"
        )
    approval = found[0]
    if approval["status"] != "pending":
        raise ApprovalError(
            f"lead {decision.lead_id} was already decided: {approval['status']} by {approval['decided_by']}"
        )
    if decision.action == "reject":
        with store.transaction() as tx:
            tx.execute(
                "decide_approval",
                lead_id=decision.lead_id,
                status="rejected",
                decided_partner=None,
                decided_by=decision.approver,
                note=decision.note,
                decided_at=now,
            )
            tx.execute(
                "update_row_outcome",
                lead_id=decision.lead_id,
                outcome=Outcome.DISQUALIFIED.value,
                rule="rejected_by_approver",
                reason=f"rejected by {decision.approver}: {decision.note}".strip(),
            )
        return f"Rejected {decision.lead_id}; it will not be shared."

    partner_id = (
        decision.partner_id
        if decision.action == "reassign"
        else (decision.partner_id or approval["proposed_partner"])
    )
    if not partner_id:
        raise ApprovalError(
            f"lead {decision.lead_id} has no proposed partner; use reassign with --partner"
        )
    partner = config.partner(partner_id)
    if partner.status != "active":
        raise ApprovalError(
            f"partner {partner_id} is {partner.status}; choose an active partner"
        )
    with store.transaction() as tx:
        tx.execute(
            "decide_approval",
            lead_id=decision.lead_id,
            status="approved",
            decided_partner=partner_id,
            decided_by=decision.approver,
            note=decision.note,
            decided_at=now,
        )
        tx.execute(
            "add_transfer",
            transfer_id=transfer_id_for(decision.lead_id, partner_id),
            lead_id=decision.lead_id,
            partner_id=partner_id,
            channel=partner.channel,
            created_at=now,
            run_id=run_id,
        )
        tx.execute(
            "update_row_outcome",
            lead_id=decision.lead_id,
            outcome=Outcome.SHARED.value,
            rule="approved",
            reason=f"approved by {decision.approver} for {partner_id}",
        )
    return f"Approved {decision.lead_id} for {partner_id}; the next sharing run delivers it."
