"""Progress reports of a run and the command line's bars that draw them."""

from __future__ import annotations

import io
import logging

from prefect.logging.handlers import PrefectConsoleHandler
from rich.console import Console

from leadshare import normalise, progress
from leadshare.generate import generate_leads
from leadshare.run_display import showing_progress


class Recorder:
    """Listener that keeps every report it gets."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.stages: list[str] = []
        self.reported_values: list[tuple[str, int, int]] = []
        self.skipped_steps = 0

    def planned(self, steps: int) -> None:
        self.steps.append(steps)

    def stage(self, label: str) -> None:
        self.stages.append(label)

    def values(self, label: str, done: int, total: int) -> None:
        self.reported_values.append((label, done, total))

    def skipped(self, steps: int) -> None:
        self.skipped_steps += steps


def test_reports_without_listener_do_nothing():
    progress.planned(2, 3)
    progress.stage("Reading a.csv")
    progress.values("Normalising distinct values", 1, 2)
    progress.file_rejected()

    assert progress._listener is None


def test_listener_restored_after_block():
    outer, inner = Recorder(), Recorder()
    with progress.listening(outer):
        with progress.listening(inner):
            progress.stage("inner stage")
        progress.stage("outer stage")

    assert inner.stages == ["inner stage"]
    assert outer.stages == ["outer stage"]


def test_normalise_reports_values_done():
    frame = generate_leads(12_000, seed=5)
    recorder = Recorder()
    with progress.listening(recorder):
        normalise.normalise_frame(frame)

    reported = recorder.reported_values
    assert reported, "a frame above the parallel threshold reports its values"
    done = [done for _, done, _ in reported]
    assert done == sorted(done)
    label, last_done, total = reported[-1]
    assert label == "Normalising distinct values"
    assert last_done == total


def test_bars_drawn_and_prefect_logs_above():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    # A logger set up as Prefect sets up its own: a console handler on the real stderr.
    prefect_logger = logging.getLogger("prefect.test_progress")
    prefect_logger.propagate = False
    prefect_handler = PrefectConsoleHandler()
    prefect_logger.addHandler(prefect_handler)
    before = list(prefect_logger.handlers)

    with showing_progress(console) as display:
        assert display is not None
        progress.planned(files=1, partners=1)
        progress.stage("Reading a.csv")
        progress.values("Normalising distinct values", 5, 10)
        prefect_logger.warning("a log line from the flow")
        display.bars.refresh()
        during = list(prefect_logger.handlers)

    text = out.getvalue()
    assert "Reading a.csv" in text
    assert "Normalising distinct values" in text
    assert "a log line from the flow" in text
    assert not any(isinstance(h, PrefectConsoleHandler) for h in during)
    assert prefect_logger.handlers == before
    prefect_logger.removeHandler(prefect_handler)


def test_no_bars_when_not_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with showing_progress(console) as display:
        progress.stage("Reading a.csv")

    assert display is None
    assert out.getvalue() == ""


def test_finished_run_fills_the_stage_bar():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with showing_progress(console) as display:
        progress.planned(files=1, partners=1)
        for step in range(1 + progress.FILE_STAGES + 1 + 1):
            progress.stage(f"stage {step}")
        bar = display.bars.tasks[0]
        assert bar.completed == bar.total - 1

    assert bar.completed == bar.total
    assert bar.description == "Done"
