"""The one place that relies on Dagster behaviour outside its documented API.

1. A sensor's ticks. Dagster offers run-status sensors for failed runs, but nothing public for a
   tick that failed before creating a run (the UI reads ticks over GraphQL from the instance's
   schedule storage). The scheduler-failure alert (schedule_failure_sensor.py) needs exactly that for the
   scheduler and the registry sensors, so it reads the instance's instigator states and ticks
   here, and nowhere else:
   - `DagsterInstance.all_instigator_state()`: states with `instigator_type` (an enum whose value
     is "SENSOR"), `instigator_name`, `instigator_origin_id` and `selector_id`;
   - `DagsterInstance.get_ticks(origin_id, selector_id, after=..., limit=...)`: ticks, newest
     first, with `timestamp`, `status` (an enum whose value is "FAILURE" for a failed tick) and
     `error` (a SerializableErrorInfo or None).
   Enum members are compared by value, so nothing here imports their `dagster._…` modules.
2. Cron arithmetic: the scheduler sensor decides when an account's cron last fired with the
   function Dagster's schedules use (`dagster._utils.schedules`, imported where it is called), so
   the accounts' crons mean what a Dagster schedule's would, DST included.

Both are pinned by aircall_pipeline_tests/operations/test_schedules.py (real sensor daemon ticks,
one failing, read back through `sensor_ticks`; timezones and DST); an upgrade of Dagster that
changes them fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dagster as dg

SENSOR_INSTIGATOR = "SENSOR"
FAILED_TICK = "FAILURE"


@dataclass(frozen=True)
class Tick:
    """One tick of a sensor, as the alerts need it."""

    timestamp: float
    failed: bool
    error: Any | None  # a SerializableErrorInfo: cls_name, message, cause, context


def _ticks(instance: dg.DagsterInstance, kind: str, name: str, *, after: float | None,
           limit: int | None) -> list[Tick]:
    ticks: list[Tick] = []
    for state in instance.all_instigator_state():
        if _value(state.instigator_type) != kind or state.instigator_name != name:
            continue
        for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after, limit=limit):
            ticks.append(Tick(float(tick.timestamp), _value(tick.status) == FAILED_TICK, tick.error))
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
                 limit: int | None = None) -> list[Tick]:
    """The ticks of every sensor named `sensor_name` (one per code location), after `after` (epoch
    seconds, exclusive), at most `limit` per sensor, newest first within each."""
    return _ticks(instance, SENSOR_INSTIGATOR, sensor_name, after=after, limit=limit)
