"""The one place that relies on Dagster behaviour outside its documented API: a schedule's ticks.

Dagster offers run-status sensors for failed runs, but nothing public for a schedule tick that
failed before creating a run (the UI reads ticks over GraphQL from the instance's schedule storage).
The schedule-failure alert (sensors.py) needs exactly that, so it reads the instance's instigator
states and ticks here, and nowhere else:

- `DagsterInstance.all_instigator_state()`: states with `instigator_type` (an enum whose value is
  "SCHEDULE"), `instigator_name`, `instigator_origin_id` and `selector_id`;
- `DagsterInstance.get_ticks(origin_id, selector_id, after=..., limit=...)`: ticks, newest first,
  with `timestamp`, `status` (an enum whose value is "FAILURE" for a failed tick) and `error`
  (a SerializableErrorInfo or None).

Enum members are compared by value so that nothing imports `dagster._…` modules. The behaviour is
pinned by aircall_pipeline_tests/operations/test_schedules.py (a real scheduler daemon tick that
fails, read back through `schedule_ticks`); an upgrade of Dagster that changes it fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg

SCHEDULE_INSTIGATOR = "SCHEDULE"
SENSOR_INSTIGATOR = "SENSOR"
FAILED_TICK = "FAILURE"


@dataclass(frozen=True)
class ScheduleTick:
    """One tick of a schedule, as the alerts need it."""

    timestamp: float
    failed: bool
    error: Any | None  # a SerializableErrorInfo: cls_name, message, cause, context


def schedule_ticks(
    instance: dg.DagsterInstance, schedule_name: str, *, after: float | None = None, limit: int | None = None
) -> list[ScheduleTick]:
    """The ticks of every schedule named `schedule_name` (one per code location), after `after`
    (epoch seconds, exclusive), at most `limit` per schedule, newest first within each."""
    return _ticks(instance, SCHEDULE_INSTIGATOR, schedule_name, after=after, limit=limit)


def _ticks(instance: dg.DagsterInstance, kind: str, name: str, *, after: float | None,
           limit: int | None) -> list[ScheduleTick]:
    ticks: list[ScheduleTick] = []
    for state in instance.all_instigator_state():
        if _value(state.instigator_type) != kind or state.instigator_name != name:
            continue
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after, limit=limit):
            ticks.append(ScheduleTick(float(tick.timestamp), _value(tick.status) == FAILED_TICK, tick.error))
    return ticks


def _value(member: Any) -> Any:
    return getattr(member, "value", member)


def latest_cron_tick(cron: str, now: datetime, timezone: str) -> datetime:
    """The latest time at or before `now` that `cron` fires in `timezone` (Dagster's own cron
    arithmetic, the schedules' own, DST included; `dagster._utils.schedules`)."""
    from dagster._utils.schedules import get_latest_completed_cron_tick, is_valid_cron_string

    if not is_valid_cron_string(cron):
        raise ValueError(f"{cron!r} is not a cron expression Dagster accepts (five fields, e.g. '15 2 * * *')")
    return get_latest_completed_cron_tick(cron, now, timezone)


def sensor_ticks(instance: dg.DagsterInstance, sensor_name: str, *, after: float | None = None,
                 limit: int | None = None) -> list[ScheduleTick]:
    """The ticks of every sensor named `sensor_name` (the daily scheduler is a sensor), as
    `schedule_ticks` reads a schedule's."""
    return _ticks(instance, SENSOR_INSTIGATOR, sensor_name, after=after, limit=limit)
