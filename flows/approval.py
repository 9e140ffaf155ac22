"""Approval flow: apply approvers' decisions on strategic leads from the Prefect UI.

Run the ``approvals`` deployment (flow ``review-approvals``) from the UI; its parameter
form takes a list of decisions (lead id, approve/reassign/reject, partner, approver,
note). Each row is checked and applied on its own, so a bad row rejects only itself.
The hourly run does not wait for this flow. It delivers approved leads on its next
pass.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from leadshare.approvals import DecisionRow, checked_decision, decide
from leadshare.errors import LeadshareError
from leadshare.runtime import build_context


@flow(name="review-approvals")
def review_approvals(decisions: list[DecisionRow]) -> list[str]:
    ctx = build_context(run_id=flow_run.get_id())
    logger = get_run_logger()
    results = []
    for row in decisions:
        # A blank approver or an unknown partner id raises a LeadshareError: one
        # bad row of the form must not stop the decisions after it.
        try:
            decision = checked_decision(row)
            results.append(decide(ctx.store, ctx.config, decision, ctx.run_id, ctx.now))
        except LeadshareError as exc:
            logger.error("Decision on %s not applied: %s", row.lead_id, exc)
            results.append(f"not applied: {exc}")
    logger.info(
        "Applied %d of %d approval decisions",
        sum(not r.startswith("not") for r in results),
        len(results),
    )
    return results
