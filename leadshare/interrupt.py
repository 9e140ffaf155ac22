"""End a CLI sharing run at once on Ctrl-C or SIGTERM, as a kill would.

Without ``PREFECT_API_URL`` the flow reports to a temporary Prefect server, a child
process of the CLI. Ctrl-C reaches that server too, or Prefect stops it on the
interrupt, and Prefect (3.9.1) then retries its reports of the crashed run against
the stopped server for minutes, so the command hung. A sharing run is safe to kill
at any step, and the crash tests kill it at each named fail point. So here the
signal ends the process instead. It stops the CLI's child processes and exits with
status 128 + the signal number. The next run marks this one crashed and takes over what
it committed. With ``PREFECT_API_URL`` set, the server outlives the CLI, and
Prefect's own handling records the run as Crashed there.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import psutil

STOP_TIMEOUT_S = 5.0

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_children() -> None:
    """Terminate this process's child processes, and kill those still running after."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            continue
    _, running = psutil.wait_procs(children, timeout=STOP_TIMEOUT_S)
    for child in running:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(running, timeout=STOP_TIMEOUT_S)


def _stop(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    sys.stderr.write(
        f"\n{name} received: stopping the sharing run now. The next run takes over "
        "what this one committed, and inbox files it had not committed stay in the "
        "inbox.\n"
    )
    sys.stderr.flush()
    # Rich hides the cursor while the progress bars are drawn.
    if sys.stderr.isatty():
        sys.stderr.write("\x1b[?25h")
        sys.stderr.flush()
    stop_children()
    os._exit(128 + signum)


@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """Inside the block, make SIGINT and SIGTERM end the process at once.

    Does nothing when Prefect's ``PREFECT_API_URL`` setting names a server (from the
    environment or a Prefect profile), or outside the main thread, where Python
    cannot set signal handlers.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        yield
        return
    try:
        previous = {number: signal.signal(number, _stop) for number in HANDLED_SIGNALS}
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
