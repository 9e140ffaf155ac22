"""Store tasks: commit one batch, archive its file."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadshare import pipeline, progress
from leadshare.errors import ArchiveError, FileChangedError
from leadshare.match import MatchResult
from leadshare.pipeline import BatchCounts, InboxFile, RunContext
from leadshare.words import counted


@task(cache_policy=NO_CACHE)
def commit_batch(
    ctx: RunContext,
    item: InboxFile,
    frame: pd.DataFrame,
    match: MatchResult,
    suppressions: pd.DataFrame,
    meta: dict,
) -> BatchCounts | None:
    """Commit one file's outcomes; None if the file changed since it was claimed."""
    progress.stage(f"Committing {item.path.name}")
    try:
        counts = pipeline.commit_batch(ctx, item, frame, match, suppressions, meta)
    except FileChangedError as exc:
        get_run_logger().warning("Left %s in the inbox: %s", item.path.name, exc)
        return None
    get_run_logger().info(
        "Committed %s: %s, outcomes %s",
        counts.file_name,
        counted(counts.rows_in, "row"),
        counts.outcomes,
    )
    return counts


@task(cache_policy=NO_CACHE)
def archive_file(ctx: RunContext, item: InboxFile) -> str | None:
    """Move a committed file out of the inbox; leave it there if it changed since.

    A processed/ folder that cannot be written also leaves it there. That error goes
    into the run summary and does not fail the task, because a retry does not fix it.
    """
    try:
        return str(pipeline.archive_committed_file(ctx, item))
    except ArchiveError as exc:
        pipeline.note_archive_error(ctx, exc, item)
        return None
    except FileChangedError as exc:
        get_run_logger().warning(
            "Left %s in the inbox after its commit; the next run reads it again "
            "and links the rows committed now as duplicates: %s",
            item.path.name,
            exc,
        )
        return None
