"""`aircall_schedule_failure_alert`: a tick of the daily scheduler that failed before any run existed.

When a credential is missing in the code server itself, the tick fails while building the run (the
code server resolves EnvVars for the execution plan), so no run exists for the failure sensor to see.
"""

from __future__ import annotations

import time

import dagster as dg

from aircall_pipeline.names import SCHEDULE_FAILURE_SENSOR, SCHEDULER_SENSOR
from aircall_pipeline.operations.alerts import Alert, AlertSettings, alert_settings, send_alert
from aircall_pipeline.operations.dagster_internals import sensor_ticks
from aircall_pipeline.operations.failures import (
    CONFIG_ERRORS,
    ErrorLink,
    RunFailureFacts,
    error_chain,
    error_line,
    iso_utc,
    missing_variables,
)


def evaluate_schedule_failures(
    instance: dg.DagsterInstance,
    cursor: str | None,
    *,
    schedule_name: str = SCHEDULER_SENSOR,
    settings: AlertSettings | None = None,
) -> tuple[Alert | None, str]:
    """One alert for every new batch of failed ticks of the daily scheduler (a sensor: the tick
    could not create the runs, e.g. unusable settings)."""
    after = float(cursor) if cursor else None
    if after is None:
        # First evaluation: start from now rather than alerting on history.
        failed = []
        newest = max([0.0, *(t.timestamp for t in sensor_ticks(instance, schedule_name, limit=1))])
    else:
        ticks = sensor_ticks(instance, schedule_name, after=after)
        failed = [t for t in ticks if t.failed]
        newest = max([after, *(t.timestamp for t in ticks)])
    new_cursor = str(newest or time.time()) if after is None else str(newest)
    if not failed:
        return None, new_cursor

    settings = settings or alert_settings()
    links: list[ErrorLink] = []
    for tick in failed:
        if tick.error is not None:
            links.extend(error_chain(tick.error, "schedule"))
    facts = RunFailureFacts(links=links)
    missing = missing_variables(facts)
    link = facts.first(CONFIG_ERRORS) or facts.innermost_user_error()
    when = ", ".join(iso_utc(t.timestamp, timespec="seconds") for t in sorted(failed, key=lambda t: t.timestamp)[:5])
    if missing:
        kind, severity = "config", "critical"
        title = f"Aircall evidence scheduler could not start a run: {', '.join(missing)} not set"
        text = (f"The daily scheduler {schedule_name} failed at {when} before creating a run: "
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set in the code "
                "server's environment. Set it (deploy/.env, or the Helm envSecrets of the user deployment) "
                "and restart the code server; then backfill the missed days from the UI.")
    else:
        kind, severity = ("config" if link and link.cls_name in CONFIG_ERRORS else "other"), "error"
        title = f"Aircall evidence scheduler {schedule_name} failed to start a run"
        text = f"The daily scheduler failed at {when} before creating a run; no evidence was collected."
    if link is not None:
        text += f"\n{error_line(link)}"
    alert = Alert(title=title, severity=severity, kind=kind, text=text,
                  run_url=f"{settings.webserver_url}/automation",
                  details={"schedule": schedule_name, "failed_ticks": len(failed), "missing_variables": missing})
    return alert, new_cursor


def build_schedule_failure_sensor(
    *,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 60,
) -> dg.SensorDefinition:
    scheduler = SCHEDULER_SENSOR

    @dg.sensor(
        name=SCHEDULE_FAILURE_SENSOR,
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description=f"Alerts when a tick of {scheduler} fails before a run exists (e.g. unusable settings, or a "
                    "credential missing from the code server), which no run-failure sensor can see.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        alert, cursor = evaluate_schedule_failures(context.instance, context.cursor, schedule_name=scheduler)
        context.update_cursor(cursor)
        if alert is not None:
            send_alert(alert, log=context.log)
            return dg.SkipReason("scheduler tick failure alerted")
        return dg.SkipReason("no failed scheduler tick")

    return _sensor
