"""Log leadshare's own errors in Prefect's run logs as one line, without a traceback.

Warnings and errors of leadshare's own loggers (a rejected file, a partner cut off,
a folder that cannot be written) also go to the run's log in Prefect. Prefect keeps
only its run loggers' records, so without this they reach the worker's terminal and
nobody watching the UI.

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
OWN_LOGGERS = ("leadshare", "tasks")
"""The parents of the loggers of leadshare's modules and tasks."""


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


class InsideRunFilter(logging.Filter):
    """Pass only records logged in a flow or task run, whose run Prefect can name."""

    def filter(self, record: logging.LogRecord) -> bool:
        from prefect.context import FlowRunContext, TaskRunContext

        return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def install() -> None:
    """Add the filter to Prefect's run loggers and send leadshare's warnings to runs.

    Calling it again changes nothing.
    """
    from prefect.logging.handlers import APILogHandler

    for name in PREFECT_RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, LeadshareErrorFilter) for f in logger.filters):
            logger.addFilter(LeadshareErrorFilter())
    for name in OWN_LOGGERS:
        own = logging.getLogger(name)
        if not any(isinstance(h, APILogHandler) for h in own.handlers):
            handler = APILogHandler(level=logging.WARNING)
            handler.addFilter(InsideRunFilter())
            handler.addFilter(LeadshareErrorFilter())
            own.addHandler(handler)
