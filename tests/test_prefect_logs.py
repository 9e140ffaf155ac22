"""Prefect's run loggers: leadshare errors as one line, other errors with traceback."""

from __future__ import annotations

import logging
import sys

from leadshare import prefect_logs
from leadshare.approvals import DecisionsNotAppliedError
from leadshare.errors import RunLockedError


def _record(message: str, error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "prefect.flow_runs", logging.ERROR, __file__, 1, message, (), exc_info
    )


def test_engine_exit_line_gains_error():
    error = DecisionsNotAppliedError(
        "1 of 1 approval decisions were not applied", ["not applied: L-1"]
    )
    record = _record("Engine execution exited with unexpected exception", error)

    passed = prefect_logs.LeadshareErrorFilter().filter(record)

    assert passed
    assert record.getMessage() == (
        "Engine execution exited with unexpected exception: "
        f"DecisionsNotAppliedError: {error}"
    )
    assert record.exc_info is None


def test_message_with_error_not_repeated():
    error = RunLockedError("another sharing run is using store duckdb:///x")
    record = _record(f"Encountered exception during execution: {error!r}", error)

    prefect_logs.LeadshareErrorFilter().filter(record)

    assert record.getMessage().count("another sharing run") == 1
    assert record.exc_info is None


def test_other_errors_keep_traceback():
    record = _record("Encountered exception during execution", ValueError("bug"))

    passed = prefect_logs.LeadshareErrorFilter().filter(record)

    assert passed
    assert record.exc_info is not None
    assert record.getMessage() == "Encountered exception during execution"


def test_install_adds_one_filter():
    prefect_logs.install()
    prefect_logs.install()

    for name in prefect_logs.PREFECT_RUN_LOGGERS:
        filters = logging.getLogger(name).filters
        ours = [f for f in filters if isinstance(f, prefect_logs.LeadshareErrorFilter)]
        assert len(ours) == 1


def test_install_adds_one_api_handler():
    from prefect.logging.handlers import APILogHandler

    prefect_logs.install()
    prefect_logs.install()

    for name in prefect_logs.OWN_LOGGERS:
        handlers = logging.getLogger(name).handlers
        ours = [h for h in handlers if isinstance(h, APILogHandler)]
        assert len(ours) == 1
        assert ours[0].level == logging.WARNING
