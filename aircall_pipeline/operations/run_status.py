# Why not dg.run_status_sensor / run_failure_sensor: Dagster owns their cursor (a SensorResult with one raises) and calls them only when a run reaches the status, but these alerts keep state in the cursor and must flush a waiting group when no new run comes.
"""Reading the runs that reached a status (succeeded, failed) after a storage-id cursor, as
Dagster's run-status sensors do, for the plain sensors that keep state of their own in their cursor
(the check-result alert and the run-failure alert, check_sensor.py and failure_sensor.py).

Dagster owns a run-status sensor's cursor; a sensor that must also remember something (reminders,
alerts buffered for grouping) is a plain `dg.sensor` reading `fetch_run_status_changes` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from aircall_pipeline.operations.alerts import Alert, send_alert


@dataclass(frozen=True)
class StatusChanges:
    """The runs of this code location that reached the status after the cursor, oldest first."""

    runs: list[Any]  # DagsterRun
    after: int  # the storage id of the last event read: the next cursor
    read: int  # events read (runs of other code locations and jobs included)


def latest_status_change(instance: dg.DagsterInstance, event_type: DagsterEventType) -> int:
    """The storage id of the newest event of that type (-1 when none): where a first evaluation
    starts watching, rather than alerting on history."""
    latest = instance.fetch_run_status_changes(event_type, limit=1).records
    return latest[0].storage_id if latest else -1


def same_code_location(run: Any, location: str | None, repository: str | None) -> bool:
    """Whether `run` belongs to the sensor's own code location (both None in-process, as in tests),
    as Dagster's run-status sensors decide it."""
    origin = getattr(run, "remote_job_origin", None)
    run_location = origin.repository_origin.code_location_origin.location_name if origin else None
    run_repository = origin.repository_origin.repository_name if origin else None
    return (run_location, run_repository) == (location, repository)


def status_changes_after(
    instance: dg.DagsterInstance,
    event_type: DagsterEventType,
    after: int,
    *,
    limit: int,
    location: str | None = None,
    repository: str | None = None,
    job_names: Sequence[str] | None = None,
) -> StatusChanges:
    """At most `limit` events of `event_type` after storage id `after`, as the runs they belong to
    (runs of another code location, or of a job outside `job_names`, are read past and left out)."""
    records = instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after),
        limit=limit, ascending=True,
    ).records
    runs = []
    for record in records:
        after = record.storage_id
        run = instance.get_run_by_id(record.event_log_entry.run_id)
        if run is None or not same_code_location(run, location, repository):
            continue
        if job_names is not None and run.job_name not in job_names:
            continue
        runs.append(run)
    return StatusChanges(runs, after, len(records))


# (instance, cursor, now, location=, repository=, log=) -> (alerts to send, new cursor, one-line status)
Evaluate = Callable[..., tuple[list[Alert], str, str]]


def alerting_sensor(*, name: str, description: str, evaluate: Evaluate, default_status: dg.DefaultSensorStatus,
                    minimum_interval_seconds: int, clock: Callable[[], float]) -> dg.SensorDefinition:
    """The plain sensor around an `evaluate` of status changes: it passes its code location (so
    only this location's runs count, as for Dagster's run-status sensors), sends the alerts, keeps
    the cursor and shows the status with the tick."""

    @dg.sensor(name=name, default_status=default_status, minimum_interval_seconds=minimum_interval_seconds,
               description=description)
    def _sensor(context: dg.SensorEvaluationContext):
        origin = context.code_location_origin
        alerts, cursor, status = evaluate(
            context.instance, context.cursor, clock(), location=origin.location_name if origin else None,
            repository=context.repository_name if origin else None, log=context.log,
        )
        for alert in alerts:
            outcome = send_alert(alert, log=context.log)
            whose = alert.run_id or f"{len(alert.details.get('accounts', []))} accounts"
            context.log.info(f"Alert {alert.kind} ({whose}): {outcome}")
        context.update_cursor(cursor)
        return dg.SkipReason(status)

    return _sensor
