"""Validate tasks: normalise + row gates, dedup, consent (one run per batch)."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadshare import pipeline, progress
from leadshare.model import Outcome
from leadshare.pipeline import RunContext
from leadshare.words import counted


def _count(frame: pd.DataFrame, outcome: Outcome) -> int:
    return int((frame["outcome"] == outcome.value).sum())


@task(cache_policy=NO_CACHE)
def validate_leads(ctx: RunContext, frame: pd.DataFrame, profile: str) -> pd.DataFrame:
    progress.stage("Normalising and validating")
    frame = pipeline.validate_batch(ctx, frame, ctx.config.profile(profile))
    get_run_logger().info(
        "Validated %s: %s quarantined",
        counted(len(frame), "row"),
        f"{_count(frame, Outcome.QUARANTINED):,}",
    )
    return frame


@task(cache_policy=NO_CACHE)
def dedup_leads(ctx: RunContext, frame: pd.DataFrame, profile: str) -> pd.DataFrame:
    progress.stage("Finding duplicates")
    frame = pipeline.dedup_batch(ctx, frame, profile)
    get_run_logger().info(
        "Dedup: %s linked to existing leads",
        counted(_count(frame, Outcome.DUPLICATE), "duplicate"),
    )
    return frame


@task(cache_policy=NO_CACHE)
def check_consent(
    ctx: RunContext, frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    progress.stage("Checking consent")
    frame, entries = pipeline.consent_batch(ctx, frame)
    get_run_logger().info(
        "Consent: %s suppressed, %s",
        counted(_count(frame, Outcome.SUPPRESSED), "row"),
        counted(len(entries), "new suppression entry", "new suppression entries"),
    )
    return frame, entries
