"""Progress bars of a sharing run on the terminal, for the command line.

One bar counts the run's stages and names the one running. A second bar appears
while a long stage reports its values (normalisation of a large file). Prefect's
log lines print above the bars instead of through them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from leadshare import progress


class RunProgress:
    """Listener of :mod:`leadshare.progress` that draws the bars on a rich console."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.run = self.bars.add_task("Starting the sharing flow", total=None)
        self.detail: TaskID | None = None
        self.running = False
        self.lock = threading.Lock()

    def planned(self, steps: int) -> None:
        with self.lock:
            self.bars.update(self.run, total=steps)

    def stage(self, label: str) -> None:
        with self.lock:
            self._end_detail()
            if self.running:
                self.bars.advance(self.run)
            self.running = True
            self.bars.update(self.run, description=label)

    def values(self, label: str, done: int, total: int) -> None:
        with self.lock:
            if self.detail is None:
                self.detail = self.bars.add_task(label, total=total)
            self.bars.update(self.detail, completed=done, total=total)

    def skipped(self, steps: int) -> None:
        with self.lock:
            self.bars.advance(self.run, steps)

    def finish(self) -> None:
        """Count the stage still running as done, so a finished run shows a full bar."""
        with self.lock:
            self._end_detail()
            if self.running:
                self.bars.advance(self.run)
                self.running = False
            self.bars.update(self.run, description="Done")
            self.bars.refresh()

    def _end_detail(self) -> None:
        if self.detail is not None:
            self.bars.remove_task(self.detail)
            self.detail = None


@contextmanager
def showing_progress(console: Console) -> Iterator[RunProgress | None]:
    """Draw a run's progress on ``console`` while the block runs, if it is a terminal.

    Output to a file or a pipe gets no bars, so logs and JSON stay clean.
    """
    if not console.is_terminal:
        yield None
        return
    display = RunProgress(console)
    with (
        display.bars,
        _prefect_logs_through(console),
        progress.listening(display),
    ):
        yield display
        display.finish()


class _ConsoleHandler(logging.Handler):
    """Log handler that prints through a rich console, above its live display."""

    def __init__(self, console: Console, replaced: logging.Handler) -> None:
        super().__init__(replaced.level)
        self.console = console
        self.setFormatter(replaced.formatter)
        for log_filter in replaced.filters:
            self.addFilter(log_filter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            self.console.print(message, markup=False, highlight=False, soft_wrap=True)
        except Exception:  # a log line must never break the run
            self.handleError(record)


@contextmanager
def _prefect_logs_through(console: Console) -> Iterator[None]:
    """Swap Prefect's console log handlers for ones that print through ``console``.

    Prefect's handler writes to the stderr it found at start, so its lines would
    land in the middle of the bars.
    """
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    swapped: list[tuple[logging.Logger, logging.Handler, logging.Handler]] = []
    for logger in loggers:
        for handler in list(logger.handlers):
            if isinstance(handler, PrefectConsoleHandler):
                replacement = _ConsoleHandler(console, handler)
                logger.removeHandler(handler)
                logger.addHandler(replacement)
                swapped.append((logger, handler, replacement))
    try:
        yield
    finally:
        for logger, handler, replacement in swapped:
            logger.removeHandler(replacement)
            logger.addHandler(handler)
