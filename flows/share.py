"""The hourly sharing run: inbox files in, partners matched, transfers out.

A run takes every file in the inbox, every lead still waiting for a partner and every
due transfer in the outbox. It therefore covers everything since the last successful
run, whatever the wall-clock time: cron skips or repeats hours when clocks change.
Each task works on one file or one partner.
"""

from __future__ import annotations

from prefect import State, flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.runtime import flow_run

from leadshare import prefect_logs
from leadshare.errors import DeliveriesFailedError
from leadshare.pipeline import RunContext, mark_run_failed
from leadshare.reporting import summary_errors
from leadshare.runtime import build_context
from leadshare.words import counted
from tasks.intake import archive_repeated_files, claim_inbox_files, read_lead_file
from tasks.qualify import match_partners, qualify_leads, rematch_waiting_leads
from tasks.report import post_run_failure, post_run_summary, publish_report
from tasks.store import archive_file, commit_batch
from tasks.transfer import record_sent_webhooks, transfer_batch
from tasks.validate import check_consent, dedup_leads, validate_leads

prefect_logs.install()


# NOTE: the retry also repeats errors that waiting does not fix, such as a config
# folder that cannot be written or a damaged store. Prefect 3 flows take no retry
# condition, so such a run fails twice, 60 s apart.
@flow(name="share-leads", retries=1, retry_delay_seconds=60)
def share_leads(deliver: bool = True, ready_files: list[str] | None = None) -> dict:
    """Process the inbox and deliver due transfers, and return the run summary.

    ``ready_files`` lists inbox paths that are completely written, such as the
    copies made by ``leadshare share``. They are read even within the settle time.
    While another sharing run uses the same store, this one raises RunLockedError
    at once without changing anything, and the flow's retry tries again later.
    """
    run_id = flow_run.get_id()
    try:
        ctx = build_context(run_id=run_id, ready_files=frozenset(ready_files or ()))
        with ctx.store.exclusive_run(ctx.run_id):
            try:
                return _share(ctx, deliver)
            except Exception:
                mark_run_failed(ctx)
                raise
    except DeliveriesFailedError:
        raise  # its run summary, posted already, names the partners
    except Exception as exc:
        post_run_failure(run_id, exc, retries_left=_retries_left())
        raise


def _retries_left() -> bool:
    """Tell whether Prefect runs this flow run again after the current attempt."""
    context = FlowRunContext.get()
    retries = (context.flow.retries or 0) if context and context.flow else 0
    return flow_run.run_count <= retries


def _share(ctx: RunContext, deliver: bool) -> dict:
    with ctx.store.transaction() as tx:
        tx.execute("mark_stale_runs", run_id=ctx.run_id)
        tx.execute_script("take_over_crashed_runs", run_id=ctx.run_id)
        tx.execute(
            "start_run",
            run_id=ctx.run_id,
            flow_run_id=flow_run.get_id(),
            started_at=ctx.now,
        )

    # Before any commit, so an opt-out in this run's files does not withdraw a
    # transfer that its partner has already accepted.
    record_sent_webhooks(ctx)
    backlog = rematch_waiting_leads(ctx)
    for item in claim_inbox_files(ctx):
        read = read_lead_file(ctx, item)
        if read is None:
            continue
        frame, meta = read
        # Each stage's frame is then the only reference to the batch, so the
        # columns a stage drops are freed.
        del read
        frame = validate_leads(ctx, frame, item.profile)
        frame = dedup_leads(ctx, frame, item.profile)
        frame, suppressions = check_consent(ctx, frame)
        frame = qualify_leads(ctx, frame, item.profile)
        match = match_partners(ctx, frame, item.batch)
        if commit_batch(ctx, item, frame, match, suppressions, meta) is not None:
            archive_file(ctx, item)
    archive_repeated_files(ctx)

    states = []
    if deliver:
        # One partner's failure must not hold back the others' deliveries.
        states = [
            transfer_batch(ctx, partner.id, return_state=True)
            for partner in ctx.config.partners
        ]
    deliveries = [state.result() for state in states if state.is_completed()]
    # A task that raised failed after its retries. A partner whose outbox folder
    # cannot be written completes instead, with the error in its summary row,
    # because waiting does not fix that error and Prefect retries a failed flow.
    failed_tasks = {
        partner.id: _task_error(state)
        for partner, state in zip(ctx.config.partners, states, strict=False)
        if not state.is_completed()
    }
    summary = publish_report(ctx, deliveries, backlog, failed_tasks)
    post_run_summary(ctx, summary)
    if failed_tasks:
        raise DeliveriesFailedError(
            f"deliveries failed for partners {list(failed_tasks)}; "
            "see their task logs",
            summary,
        )
    files = counted(len(summary["files"]), "file")
    done = f"{files}, {counted(summary['rows_in'], 'row')}"
    errors = summary_errors(summary)
    if errors:
        # The run completes, because a retry would not fix these, but the UI
        # shows the error line.
        get_run_logger().error(
            "Sharing run finished with errors that need a fix by hand (%s): %s",
            done,
            "; ".join(errors),
        )
    else:
        get_run_logger().info("Sharing run finished: %s", done)
    return summary


def _task_error(state: State) -> str:
    """Return the error of a delivery task that did not complete, for its table row."""
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, BaseException):
        return f"delivery task failed: {type(exc).__name__}: {exc}"
    return f"delivery task ended {state.type.value}: {state.message}"
