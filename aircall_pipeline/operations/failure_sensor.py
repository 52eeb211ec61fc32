"""`aircall_run_failure_alert`: the alert of every failed run, grouped across accounts.

Each failed run is diagnosed as before (`run_alerts.alert_for_failed_run`: kinds `config`, `auth`,
`rate_limit`, `s3`, `check_failed`, `other`), then buffered for `group_wait` in the sensor's
cursor with the other failures of the same kind (alert_groups.py): one account's failure is sent as
its own alert, N accounts failing together as one alert listing them. Runs tagged
`dagster/will_retry=true` are skipped: the run-retry daemon will try again and the last attempt alerts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from aircall_pipeline.names import ACCOUNT_TAG, RUN_FAILURE_SENSOR, WILL_RETRY_TAG
from aircall_pipeline.operations.alert_groups import DEFAULT_GROUP_BY, PendingAlerts, group_wait_seconds
from aircall_pipeline.operations.alerts import Alert, AlertSettings, alert_settings
from aircall_pipeline.operations.failures import Diagnosis
from aircall_pipeline.operations.run_alerts import account_of_run, alert_for_failed_run, run_context
from aircall_pipeline.operations.run_status import alerting_sensor, latest_status_change, status_changes_after

FAILURE_ALERT_RUNS_PER_TICK = 100
DEFAULT_ACCOUNT = "default"  # a run without the account tag (an ad-hoc materialization)


@dataclass(frozen=True)
class FailureAlertCursor:
    after: int  # storage id of the last RUN_FAILURE event read
    pending: list[dict[str, Any]] = field(default_factory=list)  # PendingAlerts.to_json()

    @classmethod
    def parse(cls, raw: str | None) -> FailureAlertCursor | None:
        """None when there is no usable cursor. `record_id`: the cursor the run-failure sensor of
        the same name left before this one, so no failure is missed across the upgrade."""
        try:
            data = json.loads(raw) if raw else None
            after = int(data["after"] if "after" in data else data["record_id"])
        except (ValueError, KeyError, TypeError):
            return None
        pending = data.get("pending")
        return cls(after, pending if isinstance(pending, list) else [])

    def dump(self) -> str:
        return json.dumps({"after": self.after, "pending": self.pending}, sort_keys=True)


def account_of(run: Any) -> str:
    """The account a run belongs to: its partition's account, else its `aircall/account` tag."""
    return account_of_run(run) or run.tags.get(ACCOUNT_TAG) or DEFAULT_ACCOUNT


def _headline(alert: Alert, run: Any) -> str | None:
    """The diagnosis headline the run's alert title ends with (Diagnosis.title)."""
    prefix = Diagnosis("other", "error", "", "", None).title(run_context(run)[0], account_of_run(run))
    return alert.title[len(prefix):] if alert.title.startswith(prefix) else None


def evaluate_run_failures(
    instance: dg.DagsterInstance,
    cursor: str | None,
    now: float,
    *,
    location: str | None = None,
    repository: str | None = None,
    job_names: Sequence[str] | None = None,
    settings: AlertSettings | None = None,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    group_wait: float | None = None,
    limit: int = FAILURE_ALERT_RUNS_PER_TICK,
    log: Any | None = None,
) -> tuple[list[Alert], str, str]:
    """(the alerts to send, the new cursor, a one-line status): the runs that failed since the
    cursor join the pending groups; the groups whose wait is over are returned. The first
    evaluation starts from now rather than alerting on history."""
    wait = group_wait_seconds() if group_wait is None else group_wait
    state = FailureAlertCursor.parse(cursor)
    if state is None:
        start = FailureAlertCursor(latest_status_change(instance, DagsterEventType.RUN_FAILURE))
        return [], start.dump(), f"watching runs that fail after event {start.after}"
    pending = PendingAlerts.from_json(state.pending, group_by=group_by, group_wait=wait)
    changes = status_changes_after(instance, DagsterEventType.RUN_FAILURE, state.after, limit=limit,
                                   location=location, repository=repository, job_names=job_names)
    settings = settings or alert_settings()
    retried = 0
    for run in changes.runs:
        if run.tags.get(WILL_RETRY_TAG) == "true":
            retried += 1
            if log is not None:
                log.info(f"Run {run.run_id} failed but will be retried; the last attempt alerts.")
            continue
        alert = alert_for_failed_run(instance, run, settings=settings)
        pending.add(alert, account_of(run), now, headline=_headline(alert, run))
    alerts = pending.due(now)
    status = (f"{changes.read} run(s) failed ({retried} to be retried), {len(alerts)} alert(s) sent, "
              f"{len(pending)} failure(s) waiting up to {wait:g} s for others of their kind")
    return alerts, FailureAlertCursor(changes.after, pending.to_json()).dump(), status


def build_run_failure_alert_sensor(
    *,
    name: str = RUN_FAILURE_SENSOR,
    monitored_jobs: Sequence[Any] | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 30,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    group_wait: float | None = None,  # None: ALERT_GROUP_WAIT_SECONDS, read at every tick
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    """One alert per failed run, or per group of failures of one kind across accounts.
    `monitored_jobs=None` watches every job of this code location: the daily job, and also ad-hoc
    materializations and per-partition backfills of the same assets."""
    job_names = [job.name for job in monitored_jobs] if monitored_jobs else None

    # A plain sensor, not a run_failure_sensor: Dagster owns a run-status sensor's cursor, and
    # grouping keeps the failures still waiting for their group in the cursor.
    return alerting_sensor(
        name=name, default_status=default_status, minimum_interval_seconds=minimum_interval_seconds, clock=clock,
        description="Alerts (log, Slack, webhook) once per failed evidence run, saying what to fix: "
                    "API key, rate limit, S3, a blocking check, or missing configuration. Accounts "
                    "failing with the same kind within ALERT_GROUP_WAIT_SECONDS get one alert listing them.",
        evaluate=lambda *args, **kwargs: evaluate_run_failures(
            *args, **kwargs, job_names=job_names, group_by=group_by, group_wait=group_wait),
    )
