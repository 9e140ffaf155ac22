"""Approval flow: apply approvers' decisions on held leads from the Prefect UI.

Run the ``approvals`` deployment (flow ``review-approvals``) from the UI; its parameter
form takes a list of decisions (lead id, approve/reassign/reject, partner, approver,
note). Each row is checked and applied on its own, so a bad row rejects only itself,
and the flow returns and logs one result per row, in the form's order. When a row
is not applied, the flow run ends Failed, and its data is a DecisionsNotAppliedError
that carries the results. Lead ids are cleaned as on the command line (spaces,
zero-width characters, letter case).
The hourly run does not wait for this flow. It delivers approved leads on its next
pass.
"""

from __future__ import annotations

from prefect import State, flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed

from leadshare import prefect_logs
from leadshare.approvals import (
    DecisionRow,
    DecisionsNotAppliedError,
    checked_decision,
    decide,
)
from leadshare.errors import LeadshareError
from leadshare.runtime import build_context

prefect_logs.install()


# The return type names a class, not Prefect's Failed(), which is a function: Prefect
# builds the UI form from the type hints, and an invalid hint leaves the form untyped.
@flow(name="review-approvals")
def review_approvals(decisions: list[DecisionRow]) -> list[str] | State:
    ctx = build_context(run_id=flow_run.get_id())
    logger = get_run_logger()
    results = []
    for number, row in enumerate(decisions, start=1):
        # A blank approver, a misspelt action or an unknown partner id raises a
        # LeadshareError, which fails this row only and not the rows after it.
        try:
            decision = checked_decision(row)
            result = decide(ctx.store, ctx.config, decision, ctx.run_id, ctx.now)
            logger.info("Row %d (lead %s): %s", number, decision.lead_id, result)
        except LeadshareError as exc:
            result = f"not applied: {exc}"
            logger.error("Row %d (lead %r): %s", number, row.lead_id, result)
        results.append(result)
    applied = sum(not r.startswith("not") for r in results)
    logger.info("Applied %d of %d approval decisions", applied, len(results))
    if applied < len(results):
        # The run ends Failed: the UI must not show a decision that was not
        # applied as done. Returning the Failed state, not raising, keeps the
        # flow's own traceback out of the log, which has each row's reason. In a
        # deployment, Prefect 3.9.1 also logs "Engine execution exited with
        # unexpected exception", as one line (see leadshare.prefect_logs).
        message = (
            f"{len(results) - applied} of {len(results)} approval decisions "
            "were not applied; see the log for each row's reason"
        )
        return Failed(
            message=message, data=DecisionsNotAppliedError(message, results)
        )
    return results
