"""Qualify and match tasks (one run per batch)."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadshare import pipeline, progress
from leadshare.match import MatchResult
from leadshare.model import Outcome
from leadshare.pipeline import RunContext
from leadshare.words import counted


@task(cache_policy=NO_CACHE)
def qualify_leads(ctx: RunContext, frame: pd.DataFrame, profile: str) -> pd.DataFrame:
    progress.stage("Qualifying")
    frame = pipeline.qualify_batch(ctx, frame, profile)
    disqualified = int((frame["outcome"] == Outcome.DISQUALIFIED.value).sum())
    get_run_logger().info(
        "Qualify: %s disqualified (rules %s)",
        counted(disqualified, "row"),
        ctx.config.rules.version,
    )
    return frame


@task(cache_policy=NO_CACHE)
def match_partners(ctx: RunContext, frame: pd.DataFrame, batch: str) -> MatchResult:
    progress.stage("Matching partners")
    result = pipeline.match_batch(ctx, frame, batch)
    counts = (
        result.leads["outcome"].value_counts().to_dict()
        if not result.leads.empty
        else {}
    )
    get_run_logger().info(
        "Match: %s across %s", counts, counted(len(result.groups), "decision group")
    )
    return result


@task(cache_policy=NO_CACHE)
def rematch_waiting_leads(ctx: RunContext) -> pipeline.BacklogCounts:
    """Offer again the leads that earlier runs could not place (one run per run)."""
    progress.stage("Offering waiting leads again")
    counts = pipeline.rematch_backlog(ctx)
    get_run_logger().info(
        "Backlog: %s placed with a partner, %s held for approval, %s disqualified",
        counted(counts.placed, "waiting lead"),
        f"{counts.held:,}",
        f"{counts.disqualified:,}",
    )
    return counts
