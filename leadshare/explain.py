"""Explain in words why a lead ended where it did."""

from __future__ import annotations

import json

from leadshare.replacement import REPLACED_RULE
from leadshare.store import LeadStore


def explain_lead(store: LeadStore, lead_id: str) -> list[str]:
    """Return the explanation of ``lead_id`` as lines of text."""
    rows = store.rows("explain_lead", lead_id=lead_id)
    if not rows:
        return [
            f"No lead {lead_id} is recorded. Lead ids look like L-0123456789abcdef: "
            "take one from `leadshare approvals list`, a partner file under outbox/, "
            "or the lead_id column of row_outcomes in the store."
        ]
    approvals = store.rows("approval_by_lead", lead_id=lead_id)
    approval = approvals[0] if approvals else None
    lines = []
    for row in rows:
        where = f"row {row['source_row']} of {row['file_name']} (profile {row['profile']}, run {row['run_id']})"
        replaced = row["linked_lead_id"] != lead_id
        if row["outcome"] == "duplicate" and not replaced:
            lines.append(_duplicate_line(row, where))
            continue
        lines.append(f"Lead {lead_id} comes from {where}.")
        reason = row["reason"]
        if row["outcome"] == "no_eligible_partner" and row["group_id"]:
            reason = "no partner is eligible; the reasons per partner follow"
        lines.append(
            f"Outcome: {row['outcome']}"
            + (f" (rule {row['rule']}): {reason}" if row["rule"] else ".")
        )
        if row["outcome"] == "duplicate":
            lines.append(
                f"This lead no longer waits for a partner; `leadshare explain "
                f"{row['linked_lead_id']}` shows the lead that replaced it."
            )
        if row["score"] is not None:
            lines.append(
                f"Score {row['score']:g}; country {row['country'] or '-'}, industry {row['industry'] or '-'}, product {row['product'] or '-'}."
            )
        if row["group_id"]:
            lines.extend(_decision_lines(row, approval))
    if approval is not None:
        lines.append(_approval_line(approval))
    disabled = {row["partner_id"]: row for row in store.rows("disabled_endpoints")}
    for transfer in store.rows("lead_transfers", lead_id=lead_id):
        lines.append(
            f"Transfer {transfer['transfer_id']} to {transfer['partner_id']} via {transfer['channel']}: "
            f"{transfer['status']} after {transfer['attempts']} attempt(s)"
            + (
                f"; last error: {transfer['last_error']}"
                if transfer["last_error"]
                else "."
            )
        )
        endpoint = disabled.get(transfer["partner_id"])
        if transfer["status"] == "pending" and endpoint is not None:
            lines.append(_disabled_endpoint_line(endpoint))
    return lines


def _disabled_endpoint_line(endpoint: dict) -> str:
    """Describe the disabled endpoint that a pending transfer waits for."""
    partner_id = endpoint["partner_id"]
    return (
        f"It waits because the endpoint of {partner_id} is disabled since "
        f"{str(endpoint['disabled_at'])[:19]}: {endpoint['reason']}. After "
        f"`leadshare endpoint enable {partner_id}` a run sends it again with the "
        "same webhook-id."
    )


def _duplicate_line(row: dict, where: str) -> str:
    """Describe a row that repeats the lead, or the held lead that it replaced."""
    where = where[:1].upper() + where[1:]
    if row["rule"] == REPLACED_RULE:
        return (
            f"{where} was held lead {row['row_lead_id']}, which this lead replaced: "
            f"{row['reason']}."
        )
    return f"{where} was a duplicate of this lead: {row['reason']}."


def _approval_line(approval: dict) -> str:
    """Describe the human decision on a strategic lead, or that it is still waiting."""
    if approval["status"] == "pending":
        return (
            f"Approval: waiting for a human; matching proposed {approval['proposed_partner']}."
        )
    if approval["status"] == "withdrawn":
        return "Approval: withdrawn because the person opted out before a decision."
    line = f"Approval: {approval['status']} by {approval['decided_by']}"
    if approval["decided_partner"]:
        line += f" for {approval['decided_partner']}"
    if approval["note"]:
        line += f" ({approval['note']})"
    return line + "."


def _decision_lines(row: dict, approval: dict | None = None) -> list[str]:
    """Describe the matching decision; ``approval`` is the human decision, if any."""
    candidates = json.loads(row["candidates"])
    exclusions = json.loads(row["exclusions"])
    lines = [
        f"Decision under rules {row['rules_version']} (config {row['config_digest']}):"
    ]
    if row["chosen_partner"]:
        lines.append(_partner_line(row["chosen_partner"], approval))
    for candidate in candidates:
        lines.append(
            f"  candidate {candidate['partner']}: score {candidate['score']} "
            f"(tier {candidate['tier']}, performance {candidate['performance']}, "
            f"load before {candidate['load_before']}, capacity left {candidate['capacity_left']})"
        )
    # Partners excluded for the same reason share one line.
    by_reason: dict[str, list[str]] = {}
    for partner_id, reason in sorted(exclusions.items()):
        by_reason.setdefault(reason, []).append(partner_id)
    for reason, partners in by_reason.items():
        lines.append(f"  excluded {', '.join(partners)}: {reason}")
    return lines


def _partner_line(partner_id: str, approval: dict | None) -> str:
    """Describe the partner that matching chose, and what a human decided about it."""
    if approval is None:
        return f"  chosen partner: {partner_id}"
    status = approval["status"]
    if status == "pending":
        return f"  proposed partner (a human decides): {partner_id}"
    if status == "withdrawn":
        return f"  proposed partner: {partner_id} (withdrawn, the person opted out)"
    decision = f"{status} by {approval['decided_by']}"
    if approval["decided_partner"] and approval["decided_partner"] != partner_id:
        decision += f" for {approval['decided_partner']}"
    return f"  proposed partner: {partner_id} ({decision})"
