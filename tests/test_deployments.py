"""prefect.yaml: known keys only (Prefect ignores unknown ones) and importable entrypoints."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENT_KEYS = {
    "name",
    "description",
    "entrypoint",
    "parameters",
    "schedules",
    "concurrency_limit",
    "work_pool",
    "tags",
    "triggers",
    "version",
    "enforce_parameter_schema",
}


def _deployments() -> list[dict]:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


def test_deployment_keys_are_known():
    for deployment in _deployments():
        unknown = set(deployment) - DEPLOYMENT_KEYS
        assert not unknown, f"{deployment['name']}: unknown keys {unknown}"


def test_entrypoints_import_as_flows():
    for deployment in _deployments():
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert hasattr(flow, "fn"), f"{deployment['entrypoint']} is not a Prefect flow"


def test_hourly_schedule_has_timezone():
    hourly = next(d for d in _deployments() if d["name"] == "hourly")
    assert hourly["schedules"][0]["cron"] == "0 * * * *"
    assert hourly["schedules"][0]["timezone"]
    assert hourly["concurrency_limit"] == 1


def test_hourly_schedule_across_clock_changes():
    # The server's schedule model is the one that creates the scheduled runs.
    from prefect.server.schemas.schedules import CronSchedule

    entry = next(d for d in _deployments() if d["name"] == "hourly")["schedules"][0]
    schedule = CronSchedule(cron=entry["cron"], timezone=entry["timezone"])
    for day in (dt.datetime(2027, 3, 27, 12), dt.datetime(2027, 10, 30, 12)):
        start = day.replace(tzinfo=dt.UTC)
        dates = asyncio.run(schedule.get_dates(n=30, start=start))
        times = [date.timestamp() for date in dates]
        gaps = {later - earlier for earlier, later in zip(times, times[1:])}
        assert gaps == {3600.0}, f"{day:%Y-%m-%d}: gaps of {sorted(gaps)} s"
