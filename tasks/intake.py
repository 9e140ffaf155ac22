"""Intake tasks: claim inbox files, read one file (per batch), archive repeats."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from leadshare import pipeline, progress
from leadshare.errors import FileChangedError, IntakeError
from leadshare.pipeline import InboxFile, RunContext
from leadshare.words import counted


@task(cache_policy=NO_CACHE)
def claim_inbox_files(ctx: RunContext) -> list[InboxFile]:
    files = pipeline.claim_files(ctx)
    progress.planned(len(files), len(ctx.config.partners))
    get_run_logger().info(
        "Claimed %s from the inbox", counted(len(files), "new lead file")
    )
    return files


@task(cache_policy=NO_CACHE)
def archive_repeated_files(ctx: RunContext) -> None:
    """Archive files that repeat the content of a file processed in this run."""
    left = pipeline.skip_processed_files(ctx)
    if left:
        get_run_logger().info(
            "%s arrived or changed during the run; the next run reads them",
            counted(left, "lead file"),
        )


@task(cache_policy=NO_CACHE)
def read_lead_file(
    ctx: RunContext, item: InboxFile
) -> tuple[pd.DataFrame, dict] | None:
    """Read and map one file; a rejected file is quarantined and None is returned."""
    logger = get_run_logger()
    progress.stage(f"Reading {item.path.name}")
    if pipeline.committed_before_read(ctx, item):
        progress.file_rejected()
        return None
    try:
        frame, meta = pipeline.read_batch(ctx, item)
    except FileChangedError as exc:
        logger.warning("Left %s in the inbox: %s", item.path.name, exc)
        progress.file_rejected()
        return None
    except IntakeError as exc:
        pipeline.reject_file(ctx, item, exc)
        logger.warning("Rejected %s: %s", item.path.name, exc)
        progress.file_rejected()
        return None
    logger.info(
        "Read %s: %s (%s, %r)",
        item.path.name,
        counted(len(frame), "row"),
        meta["encoding"],
        meta["delimiter"],
    )
    return frame, meta
