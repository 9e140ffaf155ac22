"""Log leadshare's own errors in Prefect's run logs as one line, without a traceback.

When a flow or task raises, Prefect (3.9.1) logs the exception with its traceback
("Encountered exception during execution", and in a deployment also "Engine
execution exited with unexpected exception"). For a :class:`LeadshareError` the
traceback adds nothing for the user: the message already names the file, field or
run and the fix. So these records keep their message, gain the error's type and text
when the message lacks them, and lose the traceback, in the console and in the UI
alike. Any other exception keeps its traceback.
"""

from __future__ import annotations

import logging

from leadshare.errors import LeadshareError

PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class LeadshareErrorFilter(logging.Filter):
    """Drop the traceback of a record whose exception is a LeadshareError."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, LeadshareError):
            return True
        message = record.getMessage()
        if str(error) not in message:
            message = f"{message}: {type(error).__name__}: {error}"
        record.msg = message
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


def install() -> None:
    """Add the filter to Prefect's flow-run and task-run loggers, once per process."""
    for name in PREFECT_RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, LeadshareErrorFilter) for f in logger.filters):
            logger.addFilter(LeadshareErrorFilter())
