"""Named crash points, so crash-recovery tests can stop a run at an exact step.

Set ``LEADSHARE_FAILPOINT`` to one of the names below and the process exits with
status 77 (``os._exit``, so no ``finally`` block, ``atexit`` hook or Prefect state hook
runs) the moment the code calls :func:`hit` with that name. With the variable unset,
:func:`hit` only checks the name and returns.

Names and the step each one follows:

``after_parse``
    intake has parsed a lead file and stored nothing yet.
``after_dedup``
    deduplication has finished and its results are not committed.
``before_commit``
    the run's store transaction is about to commit.
``after_commit``
    the run's store transaction has committed and nothing has been sent.
``after_post_before_record``
    a partner has accepted a webhook, and neither the partner's journal nor the
    store lists it as sent yet. The outbox code calls it;
    :meth:`WebhookClient.send` does not.
``after_csv_temp_write``
    a file drop's temporary file is written and fsynced, and ``os.replace`` has not
    moved it to its final name (called in :mod:`leadshare.transfer.filedrop`).
"""

from __future__ import annotations

import logging
import os
import sys

from leadshare.errors import ConfigError

log = logging.getLogger(__name__)

ENV_VAR = "LEADSHARE_FAILPOINT"
EXIT_STATUS = 77

FAILPOINTS: frozenset[str] = frozenset(
    {
        "after_parse",
        "after_dedup",
        "before_commit",
        "after_commit",
        "after_post_before_record",
        "after_csv_temp_write",
    }
)


def check_env() -> None:
    """Raise ConfigError when ``LEADSHARE_FAILPOINT`` names no failpoint.

    Called before a run starts, so a typo fails at once instead of inside the flow.
    """
    selected = os.environ.get(ENV_VAR)
    if selected and selected not in FAILPOINTS:
        raise ConfigError(
            f"{ENV_VAR}={selected!r} is not a failpoint; use one of "
            f"{sorted(FAILPOINTS)} or unset it"
        )


def hit(name: str) -> None:
    """Exit the process at once if ``LEADSHARE_FAILPOINT`` equals ``name``.

    Raises ValueError for a name missing from :data:`FAILPOINTS` (a typo in the
    calling code) and ConfigError when the variable names an unknown failpoint,
    because a crash test with a misspelled name would otherwise pass without
    ever crashing.
    """
    if name not in FAILPOINTS:
        raise ValueError(f"unknown failpoint {name!r}; known: {sorted(FAILPOINTS)}")

    check_env()
    if os.environ.get(ENV_VAR) != name:
        return

    log.critical("failpoint %s reached: exiting with status %d", name, EXIT_STATUS)
    _flush_logs()
    os._exit(EXIT_STATUS)


def _flush_logs() -> None:
    loggers = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
