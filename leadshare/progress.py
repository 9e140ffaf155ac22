"""Progress reports of a sharing run, for a display such as the command line's bars.

The tasks report each stage they start, and the normaliser reports the values it has
done. No listener is set by default, so a run under a Prefect worker reports nothing.
The command line sets one for the length of a run. Prefect runs submitted tasks in
worker threads, so a listener must be thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

FILE_STAGES = 7
"""Stages reported per inbox file: read, validate, dedup, consent, qualify, match, commit."""


class Listener(Protocol):
    def planned(self, steps: int) -> None:
        """Set the number of stages the run will report."""

    def stage(self, label: str) -> None:
        """Mark the previous stage done and ``label`` as the one running."""

    def values(self, label: str, done: int, total: int) -> None:
        """Report ``done`` of ``total`` values of a long stage."""

    def skipped(self, steps: int) -> None:
        """Count ``steps`` planned stages as done without running them."""


_listener: Listener | None = None


@contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """Send this process's progress reports to ``listener`` until the block ends."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield listener
    finally:
        _listener = previous


def planned(files: int, partners: int) -> None:
    """Report the stages of a run: the backlog, each file's stages, each partner, the report."""
    if _listener is not None:
        _listener.planned(1 + files * FILE_STAGES + partners + 1)


def stage(label: str) -> None:
    if _listener is not None:
        _listener.stage(label)


def values(label: str, done: int, total: int) -> None:
    if _listener is not None:
        _listener.values(label, done, total)


def file_rejected() -> None:
    """Count the remaining stages of a rejected file as done."""
    if _listener is not None:
        _listener.skipped(FILE_STAGES - 1)
