"""Approval flow: apply approvers' decisions on strategic leads from the Prefect UI.

Run the ``review-approvals`` deployment from the UI; its parameter form takes a list of
decisions (lead id, approve/reassign/reject, partner, approver, note). The hourly run
never waits for this: it delivers approved leads on its next pass.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from leadshare.approvals import ApprovalDecision, decide
from leadshare.errors import LeadshareError
from leadshare.runtime import build_context


@flow(name="review-approvals")
def review_approvals(decisions: list[ApprovalDecision]) -> list[str]:
    ctx = build_context(run_id=flow_run.get_id())
    logger = get_run_logger()
    results = []
    for decision in decisions:
        try:
            results.append(decide(ctx.store, ctx.config, decision, ctx.run_id, ctx.now))
        # An unknown partner id raises ConfigError: one bad row of the form must
        # not stop the decisions after it.
        except LeadshareError as exc:
            logger.error("Decision on %s not applied: %s", decision.lead_id, exc)
            results.append(f"not applied: {exc}")
    logger.info(
        "Applied %d of %d approval decisions",
        sum(not r.startswith("not") for r in results),
        len(results),
    )
    return results
