"""Transfer task: deliver one partner's due transfers (one run per partner)."""

from __future__ import annotations

import datetime as dt
import logging

from prefect import get_run_logger, task
from prefect.runtime import task_run
from prefect.cache_policies import NO_CACHE

from leadshare import progress
from leadshare.delivery import DeliverySummary, deliver_partner, record_journals
from leadshare.errors import ConfigError
from leadshare.pipeline import RunContext
from leadshare.settings import Settings, resolve_secret
from leadshare.slack import SlackClient
from leadshare.words import counted

log = logging.getLogger(__name__)


def slack_client(ctx: RunContext) -> SlackClient | None:
    """Return the Slack client, or None when Slack is not set up or not usable.

    A Slack reference that does not resolve (an unset variable, a missing block)
    is logged and leaves alerts in the log only: it must not stop deliveries.
    """
    return settings_slack_client(ctx.settings, ctx.run_id)


def settings_slack_client(settings: Settings, run_id: str) -> SlackClient | None:
    """Return the Slack client of ``settings``, as :func:`slack_client` does."""
    try:
        url = resolve_secret(settings.slack_webhook)
        return SlackClient(url) if url else None
    except ConfigError as exc:
        # Every partner's task calls this, and one line per run is enough.
        if run_id not in _SLACK_UNUSABLE_RUNS:
            _SLACK_UNUSABLE_RUNS.add(run_id)
            log.error("Slack is not used in run %s: %s", run_id, exc)
        return None


_SLACK_UNUSABLE_RUNS: set[str] = set()


@task(cache_policy=NO_CACHE)
def record_sent_webhooks(ctx: RunContext) -> int:
    """Record in the store the webhooks that partners accepted before a crash."""
    recorded = record_journals(ctx.store, ctx.settings)
    if recorded:
        get_run_logger().info(
            "Recorded %s accepted before an earlier run or attempt stopped",
            counted(recorded, "webhook"),
        )
    return recorded


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def transfer_batch(ctx: RunContext, partner_id: str) -> DeliverySummary:
    """Deliver what is due for one partner; what still fails stays in the outbox."""
    progress.stage(f"Delivering to {partner_id}")
    partner = ctx.config.partner(partner_id)
    summary = deliver_partner(
        ctx.store,
        ctx.settings,
        partner,
        dt.datetime.now(dt.UTC),
        slack=slack_client(ctx),
        run_id=ctx.run_id,
    )
    if summary.due:
        get_run_logger().info(
            "Transferred %s of %s to partner %s via %s "
            "(%s retry later, %s failed, %s waiting)",
            f"{summary.sent:,}",
            counted(summary.due, "lead"),
            partner_id,
            summary.channel,
            f"{summary.retry_later:,}",
            f"{summary.failed:,}",
            f"{summary.waiting:,}",
        )
    elif task_run.run_count > 1:
        # The earlier attempt sent them, and the run's partner table counts them.
        get_run_logger().info(
            "Nothing left to transfer to partner %s after attempt %d",
            partner_id,
            task_run.run_count - 1,
        )
    return summary
