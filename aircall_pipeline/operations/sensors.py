"""Sensors that turn what happened to the evidence runs into alerts (see alerts.py for the sinks).

- `aircall_run_failure_alert` (run-failure sensor): exactly one alert per failed run, classified
  from the class names along every error's `error -> cause -> ...` chain (the sensor runs in
  another process and only ever sees serialized errors, never exception objects) and from the
  `dg.Failure` metadata set by operations/retry.py. Runs tagged `dagster/will_retry=true` are
  skipped: the run-retry daemon will try again and the last attempt alerts.
  Kinds: `config` (a variable unset where the run executes: the run fails at launch, before any
  step, and the error is only on an ENGINE_EVENT, not on the failure event), `auth` (401/403),
  `rate_limit` (429 budget exhausted), `s3` (evidence store), `check_failed` (a blocking
  compliance check), `other`.
- `aircall_failed_check_alert` (SUCCESS run-status sensor): a run whose *non-blocking* checks
  failed still succeeds, so the run-failure sensor never sees it; this one reads the run's
  ASSET_CHECK_EVALUATION records and sends one alert per failed check, with its failing items.
- `aircall_evidence_freshness` (plain sensor): the newest evidence report is older than the
  freshness policy -> one `stale` alert per staleness episode (the cursor remembers it).
- `aircall_schedule_failure_alert` (plain sensor): a tick of the daily schedule that failed. When a
  credential is missing in the code server itself, the tick fails while building the run (the
  code server resolves EnvVars for the execution plan), so no run exists for the failure sensor.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterRunStatus

from aircall_pipeline.operations import retry
from aircall_pipeline.operations.alerts import Alert, AlertSettings, alert_settings, run_url, send_alert
from aircall_pipeline.operations.freshness import EVIDENCE_FAIL_WINDOW, EVIDENCE_KEY

EVIDENCE_JOB_NAME = "aircall_daily_evidence"
EVIDENCE_SCHEDULE_NAME = f"{EVIDENCE_JOB_NAME}_schedule"

RUN_FAILURE_SENSOR_NAME = "aircall_run_failure_alert"
FAILED_CHECK_SENSOR_NAME = "aircall_failed_check_alert"
FRESHNESS_SENSOR_NAME = "aircall_evidence_freshness"
SCHEDULE_FAILURE_SENSOR_NAME = "aircall_schedule_failure_alert"

WILL_RETRY_TAG = "dagster/will_retry"
PARTITION_TAG = "dagster/partition"
ACCOUNT_TAG = "aircall/account"

MAX_ITEMS_IN_ALERT = 20
MAX_MESSAGE_CHARS = 600

# Class names, compared as strings (see the module docstring). The Aircall names are the public
# interface of aircall/errors.py; the S3 ones are the evidence store's and botocore's.
AUTH_ERRORS = frozenset({"AircallAuthError"})
RATE_LIMIT_ERRORS = frozenset({"AircallRateLimitError"})
S3_ERRORS = frozenset({
    "EvidenceStoreError", "ClientError", "EndpointConnectionError", "NoCredentialsError",
    "PartialCredentialsError", "NoSuchBucket", "S3UploadFailedError", "CredentialRetrievalError",
})
CONFIG_ERRORS = frozenset({"DagsterInvalidConfigError", "PostProcessingError", "SettingsError"})
CHECK_ERRORS = frozenset({"DagsterAssetCheckFailedError"})
# Dagster's wrappers around user code: their own message is never the interesting one.
WRAPPER_ERRORS = frozenset({
    "DagsterExecutionStepExecutionError", "RetryRequestedFromPolicy", "DagsterUserCodeExecutionError",
    "DagsterExecutionInterruptedError", "Failure", "RetryRequested", "DagsterUserCodeProcessError",
})

_MISSING_ENV = re.compile(r'environment variable "([A-Za-z_][A-Za-z0-9_]*)" which is not set')
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")

_FAILURE_EVENT_TYPES = {
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.ENGINE_EVENT,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}


# --------------------------------------------------------------------------------------------------
# Reading a run's errors


@dataclass(frozen=True)
class ErrorLink:
    """One exception along a serialized error chain."""

    cls_name: str
    message: str
    where: str  # a step key, "run" (the run-failure event) or "engine" (an engine event)


@dataclass
class RunFailureFacts:
    links: list[ErrorLink] = field(default_factory=list)
    failure_metadata: list[dict[str, Any]] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[Any] = field(default_factory=list)  # AssetCheckEvaluation

    @property
    def class_names(self) -> set[str]:
        names = {link.cls_name for link in self.links}
        names |= {str(md[retry.ERROR_CLASS_KEY]) for md in self.failure_metadata if retry.ERROR_CLASS_KEY in md}
        return names

    def first(self, names: Iterable[str]) -> ErrorLink | None:
        wanted = set(names)
        return next((link for link in self.links if link.cls_name in wanted), None)

    def metadata_for(self, names: Iterable[str]) -> dict[str, Any]:
        wanted = set(names)
        return next((md for md in self.failure_metadata if md.get(retry.ERROR_CLASS_KEY) in wanted), {})

    def innermost_user_error(self) -> ErrorLink | None:
        """The most specific error worth showing: the deepest non-wrapper link of the first chain."""
        user = [link for link in self.links if link.cls_name not in WRAPPER_ERRORS]
        return user[0] if user else (self.links[0] if self.links else None)


def error_chain(error: Any, where: str) -> Iterator[ErrorLink]:
    """`error`, its `cause`, the cause's cause... (and implicit `context`s), innermost last."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        err = stack.pop(0)
        if err is None or id(err) in seen or len(seen) > 32:
            continue
        seen.add(id(err))
        message = (err.message or "").strip()
        yield ErrorLink(err.cls_name or "Exception", message, where)
        stack.extend([getattr(err, "cause", None), getattr(err, "context", None)])


def _metadata_values(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}


def gather_failure_facts(instance: dg.DagsterInstance, run_id: str) -> RunFailureFacts:
    facts = RunFailureFacts()
    for record in instance.all_logs(run_id, of_type=_FAILURE_EVENT_TYPES):
        event = record.dagster_event
        if event is None:
            continue
        data = event.event_specific_data
        if event.event_type == DagsterEventType.STEP_FAILURE:
            facts.failed_steps.append(event.step_key or "?")
            if data is not None:
                facts.links.extend(error_chain(data.error, event.step_key or "step"))
                if data.user_failure_data is not None:
                    facts.failure_metadata.append(_metadata_values(data.user_failure_data.metadata))
        elif event.event_type == DagsterEventType.RUN_FAILURE:
            if data is not None and getattr(data, "error", None) is not None:
                facts.links.extend(error_chain(data.error, "run"))
        elif event.event_type == DagsterEventType.ENGINE_EVENT:
            # A run that fails before any step (config resolution, code that cannot load) carries
            # its error only here; the RUN_FAILURE event that follows has none.
            if data is not None and getattr(data, "error", None) is not None:
                facts.links.extend(error_chain(data.error, "engine"))
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            if data is not None and not data.passed:
                facts.failed_checks.append(data)
    return facts


# --------------------------------------------------------------------------------------------------
# Classification


def _short(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean_message(link: ErrorLink) -> str:
    """The message without the `package.module.ClassName: ` prefix Dagster's serializer adds."""
    return re.sub(rf"^[\w.]*\b{re.escape(link.cls_name)}:\s*", "", link.message)


def _error_line(link: ErrorLink) -> str:
    where = {"run": "", "engine": " at launch", "schedule": " in the schedule tick"}.get(link.where, f" in step {link.where}")
    return f"Error{where}: {link.cls_name}: {_short(_clean_message(link))}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def missing_variables(facts: RunFailureFacts) -> list[str]:
    names: list[str] = []
    for link in facts.links:
        for name in _MISSING_ENV.findall(link.message):
            if name not in names:
                names.append(name)
    return names


def _reset_time(facts: RunFailureFacts, link: ErrorLink | None) -> str | None:
    reset_at = facts.metadata_for(RATE_LIMIT_ERRORS).get(retry.RESET_AT_KEY)
    if isinstance(reset_at, int | float):
        return _iso(float(reset_at))
    if link is not None:
        match = _ISO_TIME.search(link.message)
        if match:
            return match.group(0)
    return None


def _check_label(evaluation: Any) -> str:
    return f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()}"


def format_items(metadata: Mapping[str, Any], limit: int = MAX_ITEMS_IN_ALERT) -> tuple[list[str], int]:
    """The failing items a check reported, as short strings, capped at `limit`; and their total."""
    values = _metadata_values(metadata)
    items: list[Any] = []
    for key in ("failing_items", "items", "item_labels", "item_ids", "offending_ids", "ids"):
        value = values.get(key)
        if isinstance(value, list) and value:
            items = value
            break
    total = values.get("items_flagged")
    total = int(total) if isinstance(total, int | float) else len(items)
    rendered = []
    for item in items[:limit]:
        if isinstance(item, Mapping):
            label = item.get("item_label") or item.get("label") or item.get("email") or item.get("item_id") or item.get("id")
            reason = item.get("reason")
            rendered.append(f"{label}: {reason}" if reason and label else str(label or json.dumps(item, default=str)))
        else:
            rendered.append(str(item))
    return rendered, max(total, len(items))


def _items_text(metadata: Mapping[str, Any]) -> str:
    items, total = format_items(metadata)
    if not items:
        return ""
    more = f" … and {total - len(items)} more" if total > len(items) else ""
    return f"Failing items ({total}): " + "; ".join(items) + more


def _check_text(evaluation: Any) -> str:
    values = _metadata_values(evaluation.metadata)
    parts = []
    if evaluation.description:
        parts.append(evaluation.description)
    if "observed" in values or "threshold" in values:
        parts.append(f"Observed: {values.get('observed', '?')}; threshold: {values.get('threshold', '?')}.")
    if values.get("controls"):
        parts.append(f"Controls: {values['controls']}.")
    items = _items_text(evaluation.metadata)
    if items:
        parts.append(items)
    return "\n".join(parts)


def _run_context(run: Any) -> tuple[str, dict[str, Any]]:
    partition = run.tags.get(PARTITION_TAG)
    details: dict[str, Any] = {"job": run.job_name, "run_id": run.run_id}
    if partition:
        details["partition"] = partition
    if run.tags.get(ACCOUNT_TAG):
        details["account"] = run.tags[ACCOUNT_TAG]
    return (f" for {partition}" if partition else ""), details


def alert_for_failed_run(
    instance: dg.DagsterInstance, run: Any, *, settings: AlertSettings | None = None
) -> Alert:
    """The one alert a failed run gets."""
    settings = settings or alert_settings()
    facts = gather_failure_facts(instance, run.run_id)
    names = facts.class_names
    for_date, details = _run_context(run)
    details["failed_steps"] = facts.failed_steps
    details["error_classes"] = sorted(names)
    missing = missing_variables(facts)

    if missing or names & CONFIG_ERRORS:
        link = facts.first(CONFIG_ERRORS) or facts.innermost_user_error()
        kind, severity = "config", "critical"
        if missing:
            details["missing_variables"] = missing
            headline = f"{', '.join(missing)} not set"
            text = (
                f"The run failed at launch, before any step ran: {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set in the environment where runs execute. "
                "Set it in the code server's and the run worker's environment (deploy/.env, or the "
                "Helm envSecrets of the user deployment with includeConfigInLaunchedRuns), then re-run "
                "the partition."
            )
            if any(n.startswith("AIRCALL_API_") for n in missing):
                text += " An Aircall API key is created in the Aircall Dashboard → Integrations & API."
        else:
            headline = "invalid configuration"
            text = "The run failed at launch because of its configuration (details below)."
    elif names & AUTH_ERRORS:
        link = facts.first(AUTH_ERRORS)
        kind, severity = "auth", "critical"
        headline = "the Aircall API key was rejected (401/403)"
        text = (
            "The Aircall API key was rejected (401/403): create a new key in the Aircall Dashboard → "
            "Integrations & API and update AIRCALL_API_ID/AIRCALL_API_TOKEN. The step was not retried, "
            "and this date has no complete evidence until the partition is re-run with a valid key."
        )
    elif names & RATE_LIMIT_ERRORS:
        link = facts.first(RATE_LIMIT_ERRORS)
        kind, severity = "rate_limit", "error"
        reset = _reset_time(facts, link)
        details["reset_at"] = reset
        headline = "the Aircall API budget is exhausted (429)"
        text = (
            "The Aircall API rate limit (429) stayed exhausted beyond the pipeline's bounded wait and its "
            f"retries; the budget resets at {reset or 'an unknown time (no reset header was sent)'}. "
            "Other integrations on the account share the same budget; lower AIRCALL_RATE_LIMIT_PER_MINUTE "
            "or ask Aircall for a higher limit, then re-run the partition."
        )
    elif names & S3_ERRORS:
        link = facts.first(S3_ERRORS)
        kind, severity = "s3", "critical"
        headline = "the evidence store (S3) failed"
        text = (
            "Writing or reading the evidence failed. Check EVIDENCE_URI (does the bucket exist?), the AWS "
            "credentials and their permissions (s3:PutObject, s3:GetObject, s3:ListBucket) and "
            "AWS_ENDPOINT_URL_S3. The manifest is written last, so this date holds no complete evidence; "
            "re-run the partition once fixed."
        )
    elif names & CHECK_ERRORS:
        link = facts.first(CHECK_ERRORS)
        kind, severity = "check_failed", "error"
        blocking = [e for e in facts.failed_checks if getattr(e, "blocking", False)]
        if blocking:
            checks = [_check_label(e) for e in blocking]
        else:  # the error's own message lists "asset/key: check_name" lines
            checks = [ln.strip() for ln in (link.message if link else "").splitlines()[1:] if ":" in ln]
        details["failed_checks"] = checks
        headline = f"blocking compliance check failed: {', '.join(e.check_name for e in blocking) or ', '.join(checks)}"
        text = ("A blocking compliance check failed, so the day's report was not produced: "
                f"{'; '.join(checks) or 'see the run'}.")
        for evaluation in blocking:
            check_text = _check_text(evaluation)
            if check_text:
                text += f"\n{evaluation.check_name}: {check_text}"
    else:
        link = facts.innermost_user_error()
        kind, severity = "other", "error"
        cls = link.cls_name if link else "unknown error"
        explanations = {
            "AircallServerError": "the Aircall API kept failing (5xx, timeouts or dropped connections) after "
                                  "every retry; see https://status.aircall.io and re-run the partition",
            "AircallRequestError": "Aircall refused a request (4xx); the API's explanation is below",
            "AircallResponseError": "Aircall answered something unusable; the details are below",
            # ingest/timing.py: a snapshot asked for a past day, or calls for a day not over yet.
            "CollectionTimingError": "the day cannot be collected at this time; the reason is below",
        }
        headline = explanations.get(cls, cls).split(";")[0]
        text = (explanations[cls] + ".") if cls in explanations else "The run failed."
        if not link:
            text += " No error was recorded; open the run's logs."

    if link is not None:
        text += f"\n{_error_line(link)}"
    other_checks = [e for e in facts.failed_checks if not getattr(e, "blocking", False)]
    if other_checks:
        details["other_failed_checks"] = [_check_label(e) for e in other_checks]
        text += "\nAlso failed (non-blocking): " + ", ".join(_check_label(e) for e in other_checks) + "."

    return Alert(
        title=f"Aircall evidence run failed{for_date}: {headline}",
        severity=severity,
        kind=kind,
        text=text,
        run_id=run.run_id,
        run_url=run_url(run.run_id, settings),
        details=details,
    )


def alerts_for_failed_checks(
    instance: dg.DagsterInstance, run: Any, *, settings: AlertSettings | None = None
) -> list[Alert]:
    """One alert per failed (non-blocking) check of a run that otherwise succeeded."""
    settings = settings or alert_settings()
    records = instance.get_records_for_run(
        run_id=run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for_date, base_details = _run_context(run)
    alerts = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation is None or evaluation.passed:
            continue
        severity = "error" if evaluation.severity == dg.AssetCheckSeverity.ERROR else "warning"
        items, total = format_items(evaluation.metadata)
        status = _metadata_values(evaluation.metadata).get("status")
        partition = getattr(evaluation, "partition", None) or base_details.get("partition")
        on_date = f" for {partition}" if partition else for_date
        alerts.append(Alert(
            title=(f"Compliance check {evaluation.check_name} "
                   f"{'failed' if not status else str(status).upper()}{on_date}"),
            severity=severity,
            kind="check_failed",
            text=_check_text(evaluation) or "The check did not pass; see the run.",
            run_id=run.run_id,
            run_url=run_url(run.run_id, settings),
            details={
                **base_details,
                "check": evaluation.check_name,
                "asset": evaluation.asset_key.to_user_string(),
                "severity": evaluation.severity.value,
                "blocking": bool(getattr(evaluation, "blocking", False)),
                "items": items,
                "items_total": total,
            },
        ))
    return alerts


# --------------------------------------------------------------------------------------------------
# Sensors


def build_run_failure_alert_sensor(
    *,
    name: str = RUN_FAILURE_SENSOR_NAME,
    monitored_jobs: Sequence[Any] | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    """One alert per failed run. `monitored_jobs=None` watches every job of this code location: the
    daily job, and also ad-hoc materializations and per-partition backfills of the same assets."""

    @dg.run_failure_sensor(
        name=name,
        monitored_jobs=monitored_jobs,
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Alerts (log, Slack, webhook) once per failed evidence run, saying what to fix: "
                    "API key, rate limit, S3, a blocking check, or missing configuration.",
    )
    def _sensor(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        if run.tags.get(WILL_RETRY_TAG) == "true":
            context.log.info(f"Run {run.run_id} failed but will be retried; the last attempt alerts.")
            return dg.SkipReason(f"run {run.run_id} will be retried")
        alert = alert_for_failed_run(context.instance, run)
        outcome = send_alert(alert, log=context.log)
        context.log.info(f"Alert for run {run.run_id} ({alert.kind}): {outcome}")
        return None

    return _sensor


def build_failed_check_alert_sensor(
    *,
    name: str = FAILED_CHECK_SENSOR_NAME,
    monitored_jobs: Sequence[Any] | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name=name,
        monitored_jobs=monitored_jobs,
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description="A run whose non-blocking compliance checks failed still succeeds; this sends one "
                    "alert per failed check, with the failing items.",
    )
    def _sensor(context: dg.RunStatusSensorContext):
        alerts = alerts_for_failed_checks(context.instance, context.dagster_run)
        for alert in alerts:
            send_alert(alert, log=context.log)
        if not alerts:
            return dg.SkipReason(f"every check of run {context.dagster_run.run_id} passed")
        return None

    return _sensor


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
    asset_key: dg.AssetKey = EVIDENCE_KEY,
    max_age: timedelta = EVIDENCE_FAIL_WINDOW,
    settings: AlertSettings | None = None,
) -> tuple[Alert | None, str, str]:
    """(the alert to send or None, the new cursor, a one-line status)."""
    state = FreshnessCursor.parse(cursor, now)
    records = instance.fetch_materializations(asset_key, limit=1).records
    record = records[0] if records else None
    if record is not None:
        reference, episode = record.timestamp, f"m:{record.storage_id}"
        partition = record.partition_key
    else:
        reference, episode, partition = state.watch_since, "none", None
    age = now - reference
    hours = max_age.total_seconds() / 3600
    if age <= max_age.total_seconds():
        status = (f"{asset_key.to_user_string()} is fresh ({age / 3600:.1f} h old, limit {hours:g} h)"
                  if record is not None else
                  f"no {asset_key.to_user_string()} yet; watching since {_iso(state.watch_since)}, "
                  f"alerting if none by {_iso(state.watch_since + max_age.total_seconds())}")
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
        details.update(last_materialized_at=_iso(record.timestamp), last_partition=partition)
        what = (f"The newest evidence ({asset_key.to_user_string()}"
                f"{', date ' + partition if partition else ''}) was written {age / 3600:.1f} h ago, "
                f"at {_iso(record.timestamp)}")
    else:
        what = (f"No evidence ({asset_key.to_user_string()}) has been written in the {age / 3600:.1f} h "
                "since this sensor started watching")
    alert = Alert(
        title=f"Aircall evidence is stale: nothing new for {age / 3600:.0f} h (limit {hours:g} h)",
        severity="error",
        kind="stale",
        text=(f"{what}; the freshness policy allows {hours:g} h. The daily run has not produced evidence: "
              f"check that the schedule {EVIDENCE_SCHEDULE_NAME} is running and look at the latest runs "
              "of aircall_daily_evidence (a failure there has its own alert)."),
        run_id=run_id,
        run_url=run_url(run_id, settings) if run_id else details["asset_url"],
        details=details,
    )
    return alert, FreshnessCursor(state.watch_since, episode).dump(), "stale: alerting"


def build_freshness_sensor(
    *,
    name: str = FRESHNESS_SENSOR_NAME,
    asset_key: dg.AssetKey = EVIDENCE_KEY,
    max_age: timedelta = EVIDENCE_FAIL_WINDOW,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 15 * 60,
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description=f"Alerts once when the newest {asset_key.to_user_string()} is older than "
                    f"{max_age.total_seconds() / 3600:g} h (AC-15), and again only after fresh evidence "
                    "has gone stale anew.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        alert, cursor, status = evaluate_freshness(
            context.instance, context.cursor, clock(), asset_key=asset_key, max_age=max_age
        )
        context.update_cursor(cursor)
        if alert is not None:
            send_alert(alert, log=context.log)
        return dg.SkipReason(status)

    return _sensor


def _schedule_states(instance: dg.DagsterInstance, schedule_name: str) -> list[Any]:
    from dagster._core.definitions.run_request import InstigatorType

    return [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
            if s.instigator_name == schedule_name]


def evaluate_schedule_failures(
    instance: dg.DagsterInstance,
    cursor: str | None,
    *,
    schedule_name: str = EVIDENCE_SCHEDULE_NAME,
    settings: AlertSettings | None = None,
) -> tuple[Alert | None, str]:
    """One alert for every new batch of failed ticks of the schedule (the tick could not create a run)."""
    from dagster._core.scheduler.instigation import TickStatus

    after = float(cursor) if cursor else None
    failed = []
    newest = after or 0.0
    for state in _schedule_states(instance, schedule_name):
        if after is None:
            # First evaluation: start from now rather than alerting on history.
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
            newest = max([newest, *(t.timestamp for t in ticks)])
            continue
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after,
                                   statuses=[TickStatus.FAILURE])
        failed.extend(ticks)
        all_new = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after, limit=1)
        newest = max([newest, *(t.timestamp for t in all_new)])
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
    when = ", ".join(_iso(t.timestamp) for t in sorted(failed, key=lambda t: t.timestamp)[:5])
    if missing:
        kind, severity = "config", "critical"
        title = f"Aircall evidence schedule could not start a run: {', '.join(missing)} not set"
        text = (f"The daily schedule {schedule_name} failed at {when} before creating a run: "
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set in the code "
                "server's environment. Set it (deploy/.env, or the Helm envSecrets of the user deployment) "
                "and restart the code server; then backfill the missed days from the UI.")
    else:
        kind, severity = ("config" if link and link.cls_name in CONFIG_ERRORS else "other"), "error"
        title = f"Aircall evidence schedule {schedule_name} failed to start a run"
        text = f"The daily schedule failed at {when} before creating a run; no evidence was collected."
    if link is not None:
        text += f"\n{_error_line(link)}"
    alert = Alert(title=title, severity=severity, kind=kind, text=text,
                  run_url=f"{settings.webserver_url}/automation",
                  details={"schedule": schedule_name, "failed_ticks": len(failed), "missing_variables": missing})
    return alert, new_cursor


def build_schedule_failure_sensor(
    *,
    name: str = SCHEDULE_FAILURE_SENSOR_NAME,
    schedule_name: str = EVIDENCE_SCHEDULE_NAME,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 60,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description=f"Alerts when a tick of {schedule_name} fails before a run exists (e.g. a credential "
                    "missing from the code server), which no run-failure sensor can see.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        alert, cursor = evaluate_schedule_failures(context.instance, context.cursor, schedule_name=schedule_name)
        context.update_cursor(cursor)
        if alert is not None:
            send_alert(alert, log=context.log)
            return dg.SkipReason("schedule tick failure alerted")
        return dg.SkipReason("no failed schedule tick")

    return _sensor


run_failure_alert_sensor = build_run_failure_alert_sensor()
failed_check_alert_sensor = build_failed_check_alert_sensor()
evidence_freshness_sensor = build_freshness_sensor()
schedule_failure_alert_sensor = build_schedule_failure_sensor()

sensors = [run_failure_alert_sensor, failed_check_alert_sensor, evidence_freshness_sensor,
           schedule_failure_alert_sensor]
