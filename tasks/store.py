"""Store tasks: commit one batch, archive its file."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadshare import pipeline, progress
from leadshare.match import MatchResult
from leadshare.pipeline import BatchCounts, InboxFile, RunContext
from leadshare.words import counted


@task(cache_policy=NO_CACHE)
def commit_batch(
    ctx: RunContext,
    item: InboxFile,
    frame: pd.DataFrame,
    match: MatchResult,
    suppressions: list[dict],
    meta: dict,
) -> BatchCounts:
    progress.stage(f"Committing {item.path.name}")
    counts = pipeline.commit_batch(ctx, item, frame, match, suppressions, meta)
    get_run_logger().info(
        "Committed %s: %s, outcomes %s",
        counts.file_name,
        counted(counts.rows_in, "row"),
        counts.outcomes,
    )
    return counts


@task(cache_policy=NO_CACHE)
def archive_file(ctx: RunContext, item: InboxFile) -> str:
    return str(pipeline.archive_file(ctx, item, "committed"))
