"""Tick the run-failure alert sensor over one failed run, as the daemon does once the run's group
has waited its ALERT_GROUP_WAIT_SECONDS (here 0: what one tick reads is sent at its end)."""

from __future__ import annotations

import json

import dagster as dg
from dagster import DagsterEventType

from aircall_pipeline.operations.failure_sensor import build_run_failure_alert_sensor


def tick_failure_sensor(instance: dg.DagsterInstance, run_id: str, *, group_wait: float = 0) -> str | None:
    """Evaluate the sensor with a cursor just before the run's RUN_FAILURE event; the new cursor."""
    # The status-change index's storage id (on SQLite, a run's own event log numbers its events apart).
    records = instance.fetch_run_status_changes(DagsterEventType.RUN_FAILURE, limit=1000).records
    [record] = [r for r in records if r.event_log_entry.run_id == run_id]
    sensor = build_run_failure_alert_sensor(group_wait=group_wait)
    context = dg.build_sensor_context(instance=instance, cursor=json.dumps({"after": record.storage_id - 1}))
    sensor(context)
    return context.cursor
