"""Assemble a RunContext from the environment: settings, config, store."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from leadshare.config import ensure_config, load_config
from leadshare.delivery import check_intro_templates
from leadshare.pipeline import RunContext
from leadshare.settings import get_settings
from leadshare.store import open_store

# httpx logs every request URL at INFO; a partner URL may carry a token.
logging.getLogger("httpx").setLevel(logging.WARNING)


def build_context(
    run_id: str | None = None,
    now: dt.datetime | None = None,
    ready_files: frozenset[str] = frozenset(),
) -> RunContext:
    settings = get_settings()
    settings.ensure_folders()
    ensure_config(settings.config_dir)
    config = load_config(settings.config_dir)
    check_intro_templates(config.partners)
    store = open_store(settings.database_url, settings.store_wait_s)
    store.adopt_partner_ids([partner.id for partner in config.partners])
    now = now or dt.datetime.now(dt.UTC)
    run_id = run_id or f"run-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    return RunContext(
        settings=settings,
        config=config,
        store=store,
        run_id=run_id,
        now=now,
        ready_files=ready_files,
    )
