"""Report task: record the run and publish its artifacts."""

from __future__ import annotations

import datetime as dt
import json
import logging

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from leadshare import progress
from leadshare.delivery import DeliverySummary
from leadshare.errors import LeadshareError
from leadshare.pipeline import BacklogCounts, RunContext, keep_run_warnings
from leadshare.reporting import approval_reminder, run_summary, slack_summary
from leadshare.settings import get_settings
from leadshare.slack import SlackPostError
from leadshare.words import counted
from tasks.transfer import settings_slack_client, slack_client

log = logging.getLogger(__name__)


@task(cache_policy=NO_CACHE)
def publish_report(
    ctx: RunContext,
    deliveries: list[DeliverySummary],
    backlog: BacklogCounts | None = None,
    failed_tasks: dict[str, str] | None = None,
) -> dict:
    """Record the run as completed and publish its summary as Prefect artifacts.

    ``failed_tasks`` maps each partner whose delivery task raised to its error, so
    that the partner still gets a row in the ``partner-transfers`` table.
    """
    progress.stage("Publishing the run report")
    with ctx.store.transaction() as tx:
        keep_run_warnings(ctx, tx)
    summary = run_summary(ctx, deliveries, failed_tasks)
    # The store sums every attempt of a retried flow run. A run without a runs
    # row (tests that call this task alone) reports this attempt's ``backlog``.
    stored = ctx.store.rows("run_backlog_counts", run_id=ctx.run_id)
    counts = stored[0] if stored else vars(backlog or BacklogCounts())
    summary["backlog_placed"] = int(counts["placed"])
    summary["backlog_held"] = int(counts["held"])
    summary["backlog_disqualified"] = int(counts["disqualified"])
    with ctx.store.transaction() as tx:
        tx.execute(
            "finish_run",
            run_id=ctx.run_id,
            finished_at=dt.datetime.now(dt.UTC),
            status="completed",
            files_in=len(summary["files"]) + len(summary["rejected_files"]),
            rows_in=summary["rows_in"],
            summary=json.dumps(summary),
        )
    create_table_artifact(
        key="partner-transfers",
        table=summary["partners"],
        description=f"Per-partner transfers of run {ctx.run_id}",
    )
    lines = [f"| {name} | {count} |" for name, count in summary["outcomes"].items()]
    if summary["warnings"]:
        lines += ["", "## Warnings", "", *(f"- {text}" for text in summary["warnings"])]
    create_markdown_artifact(
        key="row-outcomes",
        markdown="\n".join(
            [
                f"# Run {ctx.run_id}",
                "",
                f"Rows in: {summary['rows_in']}",
                "",
                "| outcome | rows |",
                "|---|---|",
                *lines,
            ]
        ),
        description="One outcome per input row",
    )
    get_run_logger().info(
        "Run %s: %s in, outcomes %s",
        ctx.run_id,
        counted(summary["rows_in"], "row"),
        summary["outcomes"],
    )
    return summary


SLACK_TASK_RETRIES = 1
"""Extra attempts of the Slack post after one fails, each after its own client tries."""


@task(cache_policy=NO_CACHE, retries=SLACK_TASK_RETRIES, retry_delay_seconds=5)
def post_run_summary(ctx: RunContext, summary: dict) -> bool:
    """Post the run's counts (no personal data) to Slack when Slack is configured.

    A run with nothing new posts nothing. A failed post is tried again as a task
    retry, which repeats no delivery. After the last try the failure is logged and
    the run completes: its leads are committed and delivered already.
    """
    client = slack_client(ctx)
    if client is None:
        return False
    text = slack_summary(summary)
    if text is None and _reminder_due(ctx):
        text = approval_reminder(summary)
    if text is None:
        return False
    try:
        client.post_message(text)
    except SlackPostError as exc:
        # A 429 asked for a longer wait than a post takes, so a retry in 5 s
        # would only meet the limit again.
        if task_run.run_count <= SLACK_TASK_RETRIES and exc.status != 429:
            raise
        get_run_logger().error("Run summary not posted to Slack: %s", exc)
        return False
    with ctx.store.transaction() as tx:
        tx.execute(
            "mark_slack_posted", run_id=ctx.run_id, posted_at=dt.datetime.now(dt.UTC)
        )
    return True


def _reminder_due(ctx: RunContext) -> bool:
    """Tell whether no run posted to Slack within the reminder interval."""
    hours = ctx.settings.slack_reminder_hours
    if not hours:
        return False
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
    return not ctx.store.rows("slack_posts_since", since=since)[0]["n"]


def post_run_failure(
    run_id: str | None, error: BaseException, retries_left: bool
) -> bool:
    """Post to Slack that a sharing run failed, unless Prefect retries it.

    The run may have failed before its config or store could be read, so only the
    settings (environment) are used. The message names the error's type, and the
    message of leadshare's own errors, which quote no lead data. Returns whether
    a message was posted. A failed post is logged and does not hide ``error``.
    ``run_id`` is None for a command that failed before its flow run started.
    """
    if retries_left:
        return False
    try:
        client = settings_slack_client(get_settings(), run_id or "not started")
    except Exception as exc:  # invalid settings: the run's own error reports them
        log.warning("Run failure not posted to Slack: %s", exc)
        return False
    if client is None:
        return False
    detail = type(error).__name__
    if isinstance(error, LeadshareError):
        detail += f": {' '.join(str(error).split())[:300]}"
    if run_id is None:
        text = (
            f"A leadshare run failed before it started ({detail}). The inbox files "
            "wait for the next run."
        )
    else:
        text = (
            f"leadshare run {run_id} failed ({detail}). Files it did not commit stay "
            "in the inbox for the next run. The flow run's log in Prefect has the "
            "details."
        )
    try:
        client.post_message(text)
    except (SlackPostError, ValueError) as exc:
        log.error("Run failure not posted to Slack: %s", exc)
        return False
    return True
