"""`aircall_failed_check_alert`: the one alert of a successful run whose non-blocking checks did not pass.

A run whose *non-blocking* checks failed still succeeds, so the run-failure sensor never sees it; this
one reads the run's ASSET_CHECK_EVALUATION records and sends one alert for the whole run (what it says:
check_alerts.py). It is a plain sensor rather than a run-status sensor because it keeps state of its
own in its cursor (when each configuration skip was last reminded), and Dagster owns a run-status
sensor's cursor (run_status.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from aircall_pipeline.names import ACCOUNT_TAG, FAILED_CHECK_SENSOR, PARTITION_TAG, REPORT, table_of
from aircall_pipeline.operations.alerts import Alert, AlertSettings, alert_settings, report_url, run_url
from aircall_pipeline.operations.check_alerts import (
    check_alert,
    check_id_of,
    due_findings,
    finding_from_evaluation,
)
from aircall_pipeline.operations.failures import metadata_values
from aircall_pipeline.operations.run_alerts import run_context
from aircall_pipeline.operations.run_status import alerting_sensor, latest_status_change, status_changes_after


def _evidence_manifest(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """Where the run's report put the day's manifest (the report materialization's metadata)."""
    records = instance.get_records_for_run(run_id=run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if materialization is not None and table_of(materialization.asset_key) == REPORT:
            value = metadata_values(materialization.metadata).get("manifest")
            return str(value) if value else None
    return None


def alert_for_check_results(
    instance: dg.DagsterInstance, run: Any, *, reminded: Mapping[str, float], now: float,
    settings: AlertSettings | None = None,
) -> tuple[Alert | None, dict[str, float]]:
    """The one alert for the non-passing checks of a run that succeeded (None: nothing to say), and
    the configuration-skip reminder state after it (see check_alerts.py)."""
    settings = settings or alert_settings()
    records = instance.get_records_for_run(
        run_id=run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    evaluations = [e for e in evaluations if e is not None]
    findings = [f for f in map(finding_from_evaluation, evaluations) if f is not None]
    shown, state = due_findings(findings, reminded, evaluated=[check_id_of(e) for e in evaluations],
                                account=run.tags.get(ACCOUNT_TAG), now=now)
    partition, details = run_context(run)
    alert = check_alert(
        shown, partition=partition, run_id=run.run_id, run_url=run_url(run.run_id, settings),
        report_url=report_url(run.tags.get(PARTITION_TAG), settings) if partition else None,
        evidence=_evidence_manifest(instance, run.run_id) if shown else None, details=details,
    )
    return alert, state


@dataclass(frozen=True)
class CheckAlertCursor:
    after: int  # storage id of the last RUN_SUCCESS event handled
    reminded: dict[str, float] = field(default_factory=dict)  # check_alerts.reminder_key -> time

    @classmethod
    def parse(cls, raw: str | None) -> CheckAlertCursor | None:
        try:
            data = json.loads(raw) if raw else None
            # `record_id`: the cursor the run-status sensor of the same name left before this one.
            after = data["after"] if "after" in data else data["record_id"]
            return cls(int(after), {str(k): float(v) for k, v in dict(data.get("reminded") or {}).items()})
        except (ValueError, KeyError, TypeError):
            return None

    def dump(self) -> str:
        return json.dumps({"after": self.after, "reminded": self.reminded}, sort_keys=True)


CHECK_ALERT_RUNS_PER_TICK = 25


def evaluate_check_results(
    instance: dg.DagsterInstance,
    cursor: str | None,
    now: float,
    *,
    location: str | None = None,
    repository: str | None = None,
    job_names: Sequence[str] | None = None,
    settings: AlertSettings | None = None,
    limit: int = CHECK_ALERT_RUNS_PER_TICK,
) -> tuple[list[Alert], str, str]:
    """(the alerts to send, the new cursor, a one-line status) for the runs that succeeded since
    the cursor. The first evaluation starts from now rather than alerting on history."""
    state = CheckAlertCursor.parse(cursor)
    if state is None:
        start = CheckAlertCursor(latest_status_change(instance, DagsterEventType.RUN_SUCCESS))
        return [], start.dump(), f"watching runs that succeed after event {start.after}"
    changes = status_changes_after(instance, DagsterEventType.RUN_SUCCESS, state.after, limit=limit,
                                   location=location, repository=repository, job_names=job_names)
    settings = settings or alert_settings()
    alerts: list[Alert] = []
    reminded = dict(state.reminded)
    for run in changes.runs:
        alert, reminded = alert_for_check_results(instance, run, reminded=reminded, now=now, settings=settings)
        if alert is not None:
            alerts.append(alert)
    status = (f"{changes.read} run(s) succeeded, {len(alerts)} check alert(s)" if changes.read
              else "no run succeeded since the last tick")
    return alerts, CheckAlertCursor(changes.after, reminded).dump(), status


def build_failed_check_alert_sensor(
    *,
    name: str = FAILED_CHECK_SENSOR,
    monitored_jobs: Sequence[Any] | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 30,
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    """One alert per successful run whose non-blocking checks did not all pass. `monitored_jobs=None`
    watches every job of this code location, as the run-failure sensor does."""
    job_names = [job.name for job in monitored_jobs] if monitored_jobs else None

    return alerting_sensor(
        name=name, default_status=default_status, minimum_interval_seconds=minimum_interval_seconds, clock=clock,
        description="A run whose non-blocking compliance checks failed still succeeds; this sends one "
                    "alert per such run, naming the checks, with their top items and links to the run "
                    "and the report. A skip for missing configuration is reminded once a week.",
        evaluate=lambda *args, log, **kwargs: evaluate_check_results(*args, **kwargs, job_names=job_names),
    )
