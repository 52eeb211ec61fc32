"""Sensors that turn what happened to the evidence runs into alerts (see alerts.py for the sinks).

What went wrong with a run, and what to do about it, is worked out in failures.py (shared with
`aircall-pipeline run`); this module only reads the instance, builds the alerts and runs the sensors.

- `aircall_run_failure_alert` (plain sensor over failed runs, failure_sensor.py): one alert per
  failed run, classified by `failures.diagnose` from the run's events (kinds `config`, `auth`,
  `rate_limit`, `s3`, `check_failed`, `other`), with the failures of several accounts of one kind
  within ALERT_GROUP_WAIT_SECONDS grouped into one alert (alert_groups.py). Runs tagged
  `dagster/will_retry=true` are skipped: the run-retry daemon will try again and the last attempt alerts.
- `aircall_failed_check_alert` (plain sensor over successful runs): a run whose *non-blocking*
  checks failed still succeeds, so the run-failure sensor never sees it; this one reads the run's
  ASSET_CHECK_EVALUATION records and sends one alert for the whole run (check_alerts.py). It is a
  plain sensor rather than a run-status sensor because it keeps state of its own in its cursor
  (when each configuration skip was last reminded), and Dagster owns a run-status sensor's cursor.
- `aircall_evidence_freshness` (plain sensor): the newest evidence report is older than the
  freshness policy -> one `stale` alert per staleness episode (the cursor remembers it).
- `aircall_tamper_alert` (plain sensor, tamper_alerts.py): one `tamper` alert per object that sealing
  found in the evidence and the pipeline did not write.
- `aircall_schedule_failure_alert` (plain sensor): a tick of the daily schedule that failed. When a
  credential is missing in the code server itself, the tick fails while building the run (the
  code server resolves EnvVars for the execution plan), so no run exists for the failure sensor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from aircall_pipeline.compliance.newest_evidence import newest_evidence
from aircall_pipeline.compliance.rules import is_stale
from aircall_pipeline.ingest.partitions import ACCOUNT_DIM, account_name, account_of_key, day_of
from aircall_pipeline.names import (
    ACCOUNT_TAG,
    DAILY_JOB,
    FAILED_CHECK_SENSOR,
    FRESHNESS_SENSOR,
    PARTITION_TAG,
    REPORT,
    SCHEDULE_FAILURE_SENSOR,
    SCHEDULER_SENSOR,
    report_key,
    table_of,
)
from aircall_pipeline.operations.alerts import (
    Alert,
    AlertSettings,
    alert_settings,
    report_url,
    run_url,
    send_alert,
)
from aircall_pipeline.operations.check_alerts import (
    check_alert,
    check_id_of,
    due_findings,
    finding_from_evaluation,
)
from aircall_pipeline.operations.dagster_internals import sensor_ticks
from aircall_pipeline.operations.failure_sensor import build_run_failure_alert_sensor
from aircall_pipeline.operations.failures import (
    CONFIG_ERRORS,
    FAILURE_EVENT_TYPES,
    ErrorLink,
    RunFailureFacts,
    diagnose,
    error_chain,
    error_line,
    facts_from_events,
    iso_utc,
    metadata_values,
    missing_variables,
)
from aircall_pipeline.operations.freshness import policy_max_age
from aircall_pipeline.operations.run_status import alerting_sensor, latest_status_change, status_changes_after
from aircall_pipeline.operations.tamper_alerts import build_tamper_sensor
from aircall_pipeline.settings import Account

# --------------------------------------------------------------------------------------------------
# Alerts for a run


def gather_failure_facts(instance: dg.DagsterInstance, run_id: str) -> RunFailureFacts:
    """The failure facts of a run, from its event log (see failures.facts_from_events)."""
    return facts_from_events(record.dagster_event for record in instance.all_logs(run_id, of_type=FAILURE_EVENT_TYPES))


def _run_context(run: Any) -> tuple[str | None, dict[str, Any]]:
    """(the run's evidence date, the alert's details)."""
    partition = run.tags.get(PARTITION_TAG)
    details: dict[str, Any] = {"job": run.job_name, "run_id": run.run_id}
    if partition:
        details["partition"] = partition
        if "|" in partition:
            partition = day_of(partition)
    if run.tags.get(ACCOUNT_TAG):
        details["account"] = run.tags[ACCOUNT_TAG]
    return partition or None, details


def alert_for_failed_run(
    instance: dg.DagsterInstance, run: Any, *, settings: AlertSettings | None = None
) -> Alert:
    """The one alert a failed run gets."""
    settings = settings or alert_settings()
    diagnosis = diagnose(gather_failure_facts(instance, run.run_id))
    partition, details = _run_context(run)
    return Alert(
        title=diagnosis.title(partition, account_of_run(run)),
        severity=diagnosis.severity,
        kind=diagnosis.kind,
        text=diagnosis.text,
        run_id=run.run_id,
        run_url=run_url(run.run_id, settings),
        details={**details, **diagnosis.details},
    )


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
    partition, details = _run_context(run)
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


# --------------------------------------------------------------------------------------------------
# Sensors


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


@dataclass(frozen=True)
class FreshnessCursor:
    watch_since: float  # when the sensor first looked: the reference while nothing exists yet
    alerted: str | None = None  # the episode already alerted: "m:<storage id>" or "none"

    @classmethod
    def parse(cls, raw: str | None, now: float) -> FreshnessCursor:
        try:
            data = json.loads(raw) if raw else {}
            return cls(float(data["watch_since"]), data.get("alerted"))
        except (ValueError, KeyError, TypeError):
            return cls(now)

    def dump(self) -> str:
        return json.dumps({"watch_since": self.watch_since, "alerted": self.alerted})


def evaluate_freshness(
    instance: dg.DagsterInstance,
    cursor: str | None,
    now: float,
    *,
    account: Account | None = None,
    max_age: timedelta | None = None,
    policy_file: str | None = None,
    settings: AlertSettings | None = None,
) -> tuple[Alert | None, str, str]:
    """(the alert to send or None, the new cursor, a one-line status). `max_age`: the policy's
    freshness_max_age_hours unless given; staleness is decided by AC-15's rule (freshness.py)."""
    state = FreshnessCursor.parse(cursor, now)
    asset_key = report_key()
    max_age = max_age or policy_max_age(account.policy_file if account else policy_file)
    record = newest_evidence(instance, asset_key, account=account.key if account else None)
    if record is not None:
        reference, episode = record.timestamp, f"m:{record.storage_id}"
        partition = day_of(record.partition) if record.partition and "|" in record.partition else record.partition
    else:
        reference, episode, partition = state.watch_since, "none", None
    age = now - reference
    hours = max_age.total_seconds() / 3600
    if not is_stale(reference, now, max_age):
        status = (f"{asset_key.to_user_string()} is fresh ({age / 3600:.1f} h old, limit {hours:g} h)"
                  if record is not None else
                  f"no {asset_key.to_user_string()} yet; watching since {iso_utc(state.watch_since, timespec='seconds')}, "
                  f"alerting if none by {iso_utc(state.watch_since + max_age.total_seconds(), timespec='seconds')}")
        return None, state.dump(), status
    if state.alerted == episode:
        return None, state.dump(), f"still stale ({age / 3600:.1f} h), already alerted"

    settings = settings or alert_settings()
    key_path = "/".join(asset_key.path)
    details: dict[str, Any] = {"asset": asset_key.to_user_string(), "age_hours": round(age / 3600, 1),
                               "max_age_hours": hours, "asset_url": f"{settings.webserver_url}/assets/{key_path}"}
    run_id = None
    if record is not None:
        run_id = record.run_id or None
        details.update(last_materialized_at=iso_utc(record.timestamp, timespec="seconds"), last_partition=partition)
        what = (f"The newest evidence ({asset_key.to_user_string()}"
                f"{', date ' + partition if partition else ''}) was written {age / 3600:.1f} h ago, "
                f"at {iso_utc(record.timestamp, timespec='seconds')}")
    else:
        what = (f"No evidence ({asset_key.to_user_string()}) has been written in the {age / 3600:.1f} h "
                "since this sensor started watching")
    name = account_name(account.key) if account else None
    whose = f" of account {name}" if name else ""
    if name:
        details["account"] = name
    alert = Alert(
        title=f"Aircall evidence{whose} is stale: nothing new for {age / 3600:.0f} h (limit {hours:g} h)",
        severity="error",
        kind="stale",
        text=(f"{what}; the freshness policy allows {hours:g} h. The daily run has not produced evidence: "
              f"check that the sensor {SCHEDULER_SENSOR} is running and look at the latest runs "
              f"of {DAILY_JOB}{whose} (a failure there has its own alert)."),
        run_id=run_id,
        run_url=run_url(run_id, settings) if run_id else details["asset_url"],
        details=details,
    )
    return alert, FreshnessCursor(state.watch_since, episode).dump(), "stale: alerting"


def evaluate_freshness_all(
    instance: dg.DagsterInstance, cursor: str | None, now: float, accounts: Sequence[Account], *,
    max_age: timedelta | None = None, settings: AlertSettings | None = None,
) -> tuple[list[Alert], str, str]:
    """`evaluate_freshness` for every account; the cursor holds each account's own state. Paused
    accounts are not judged (nothing is scheduled for them)."""
    try:
        states = dict(json.loads(cursor)) if cursor else {}
    except (ValueError, TypeError):
        states = {}
    alerts, stale, new_states = [], 0, {}
    for account in accounts:
        if account.paused:
            continue
        alert, state, status = evaluate_freshness(instance, states.get(account.key), now, account=account,
                                                  max_age=max_age, settings=settings)
        new_states[account.key] = state
        if alert is not None:
            alerts.append(alert)
        if "stale" in status:
            stale += 1
    return alerts, json.dumps(new_states, sort_keys=True), f"{len(new_states)} account(s), {stale} stale"


def build_freshness_sensor(
    *,
    max_age: timedelta | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 15 * 60,
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=FRESHNESS_SENSOR,
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description=f"Alerts once when an account's newest {report_key().to_user_string()} is older than its "
                    "policy's freshness_max_age_hours (30 h by default; AC-15), and again only after fresh "
                    "evidence has gone stale anew. One sensor for every account.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        from aircall_pipeline.registry import current_settings

        alerts, cursor, status = evaluate_freshness_all(
            context.instance, context.cursor, clock(), current_settings().accounts, max_age=max_age)
        context.update_cursor(cursor)
        for alert in alerts:
            send_alert(alert, log=context.log)
        return dg.SkipReason(status)

    return _sensor


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


def account_of_run(run: Any) -> str | None:
    """The accounts-file name of the account a run belongs to (None: the single account, or a run
    of no account), from its partition (the `account` dimension) or its `aircall/account` tag."""
    key = run.tags.get(f"{PARTITION_TAG}/{ACCOUNT_DIM}")
    partition = run.tags.get(PARTITION_TAG) or ""
    if key is None and "|" in partition:
        key = account_of_key(partition)
    if key is None:
        start = run.tags.get("dagster/asset_partition_range_start") or ""
        key = account_of_key(start) if "|" in start else None
    if key is None:
        label = run.tags.get(ACCOUNT_TAG) or ""
        key = label if label and "/" not in label else None  # a name; `<host>/<id>` is the single account
    return account_name(key)


run_failure_alert_sensor = build_run_failure_alert_sensor()
failed_check_alert_sensor = build_failed_check_alert_sensor()


def run_sensors() -> list[dg.SensorDefinition]:
    """The sensors that watch every run of the code location, whichever account it belongs to."""
    return [run_failure_alert_sensor, failed_check_alert_sensor]


def account_sensors() -> list[dg.SensorDefinition]:
    """The sensors over every account's evidence: freshness, the scheduler's failed ticks, and
    objects in the evidence that the pipeline did not write (tamper_alerts.py); one of each."""
    return [build_freshness_sensor(), build_schedule_failure_sensor(), build_tamper_sensor()]
