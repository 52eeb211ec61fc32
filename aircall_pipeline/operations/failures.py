"""What went wrong with a run, in words a GRC engineer acts on: one classification, several readers.

- the run-failure alert (run_alerts.py) reads a finished run's events from the instance, in another
  process than the run, so it only ever sees serialized errors, never exception objects;
- `aircall-pipeline run` (commands/run.py) reads the same events from its in-process result;
- the schedule-failure alert (schedule_failure_sensor.py) reads the error of a failed schedule tick.

All of them go through the functions here, so the terminal and the alert say the same thing.

How a failure is read: every error's `error -> cause -> ...` chain (and implicit `context`s) is
flattened into `ErrorLink`s and classified by class name (compared as strings); the `dg.Failure`
metadata set by ingest/retry.py adds what a traceback cannot carry (the class, the 429's reset
time). A variable unset where the run executes fails the run at launch, before any step: that error
is only on an ENGINE_EVENT, never on the failure event, and is recognised by Dagster's wording.

Kinds (`Diagnosis.kind`, the alert's kind): `config` (a variable unset, invalid configuration),
`auth` (401/403), `rate_limit` (429 budget exhausted), `s3` (evidence store), `check_failed` (a
blocking compliance check), `other` (with an explanation for the Aircall errors that have one).

Nothing here sends, logs or reads an instance: these are pure functions over Dagster events and
(serialized) errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dagster import DagsterEventType

from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE, RATE_LIMIT_ADVICE
from aircall_pipeline.compliance import catalogue
from aircall_pipeline.ingest import retry
from aircall_pipeline.jsonable import to_jsonable
from aircall_pipeline.timestamps import iso_utc

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
CONFIG_ERRORS = frozenset({"DagsterInvalidConfigError", "PostProcessingError", "SettingsError", "SigningError"})
CHECK_ERRORS = frozenset({"DagsterAssetCheckFailedError"})
# Dagster's wrappers around user code: their own message is never the interesting one.
WRAPPER_ERRORS = frozenset({
    "DagsterExecutionStepExecutionError", "RetryRequestedFromPolicy", "DagsterUserCodeExecutionError",
    "DagsterExecutionInterruptedError", "Failure", "RetryRequested", "DagsterUserCodeProcessError",
})

# The explanation of an `other` failure whose innermost error has one; the headline is the part
# before the first ";".
OTHER_EXPLANATIONS = {
    "AircallServerError": "the Aircall API kept failing (5xx, timeouts or dropped connections) after "
                          "every retry; see https://status.aircall.io and re-run the partition",
    "AircallRequestError": "Aircall refused a request (4xx); the API's explanation is below",
    "AircallResponseError": "Aircall answered something unusable; the details are below",
    # ingest/timing.py: a snapshot asked for a past day, or calls for a day not over yet.
    "CollectionTimingError": "the day cannot be collected at this time; the reason is below",
}

# The events a failed run's story is told from.
FAILURE_EVENT_TYPES = frozenset({
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.ENGINE_EVENT,
    DagsterEventType.ASSET_CHECK_EVALUATION,
})

_MISSING_ENV = re.compile(r'environment variable "([A-Za-z_][A-Za-z0-9_]*)" which is not set')


# --------------------------------------------------------------------------------------------------
# Reading a run's errors


@dataclass(frozen=True)
class ErrorLink:
    """One exception along a serialized error chain."""

    cls_name: str
    message: str
    where: str  # a step key, "run" (the run-failure event), "engine" (an engine event) or "schedule"


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
        """The most specific error worth showing: the first non-wrapper link, else the first link."""
        user = [link for link in self.links if link.cls_name not in WRAPPER_ERRORS]
        return user[0] if user else (self.links[0] if self.links else None)


def error_chain(error: Any, where: str) -> Iterator[ErrorLink]:
    """`error` (a `SerializableErrorInfo`), its `cause`, the cause's cause... (and implicit
    `context`s), outermost first."""
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


def exception_chain(exc: BaseException, where: str) -> Iterator[ErrorLink]:
    """The same as `error_chain`, for a live exception (`__cause__` and `__context__`)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        err = stack.pop(0)
        if err is None or id(err) in seen or len(seen) > 32:
            continue
        seen.add(id(err))
        yield ErrorLink(type(err).__name__, str(err).strip(), where)
        stack.extend([err.__cause__, err.__context__])


def metadata_values(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata entries as plain values (`MetadataValue.value`)."""
    return {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}


def facts_from_events(events: Iterable[Any]) -> RunFailureFacts:
    """What a run's events say about its failure. `events` are `DagsterEvent`s (None is skipped):
    a run's event-log records' `dagster_event`, or an in-process result's `all_events`."""
    facts = RunFailureFacts()
    for event in events:
        if event is None or event.event_type not in FAILURE_EVENT_TYPES:
            continue
        data = event.event_specific_data
        if event.event_type == DagsterEventType.STEP_FAILURE:
            facts.failed_steps.append(event.step_key or "?")
            if data is not None:
                facts.links.extend(error_chain(data.error, event.step_key or "step"))
                if data.user_failure_data is not None:
                    facts.failure_metadata.append(metadata_values(data.user_failure_data.metadata))
        elif event.event_type in (DagsterEventType.RUN_FAILURE, DagsterEventType.ENGINE_EVENT):
            # A run that fails before any step (config resolution, code that cannot load) carries
            # its error only on an engine event; the RUN_FAILURE event that follows has none.
            if data is not None and getattr(data, "error", None) is not None:
                where = "run" if event.event_type == DagsterEventType.RUN_FAILURE else "engine"
                facts.links.extend(error_chain(data.error, where))
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            if data is not None and not data.passed:
                facts.failed_checks.append(data)
    return facts


def facts_from_exception(exc: BaseException, where: str = "engine") -> RunFailureFacts:
    """The facts of a run that could not even start (e.g. `execute_in_process` raising
    `DagsterInvalidConfigError` for an unset variable)."""
    return RunFailureFacts(links=list(exception_chain(exc, where)))


def missing_variables(facts: RunFailureFacts) -> list[str]:
    """The environment variables Dagster reported unset, in order of appearance."""
    names: list[str] = []
    for link in facts.links:
        for name in _MISSING_ENV.findall(link.message):
            if name not in names:
                names.append(name)
    return names


# --------------------------------------------------------------------------------------------------
# Words


def short(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_message(link: ErrorLink) -> str:
    """The message without the `package.module.ClassName: ` prefix Dagster's serializer adds."""
    return re.sub(rf"^[\w.]*\b{re.escape(link.cls_name)}:\s*", "", link.message)


def error_line(link: ErrorLink) -> str:
    """`Error in step X: Class: message`: the root cause, one line, shortened."""
    where = {"run": "", "engine": " at launch", "schedule": " in the schedule tick"}.get(
        link.where, f" in step {link.where}"
    )
    return f"Error{where}: {link.cls_name}: {short(clean_message(link))}"


def reset_time(facts: RunFailureFacts) -> str | None:
    """When the exhausted API budget resets: the `reset_at` the error carried into the Failure's
    metadata (ingest/retry.py). Never read back from the message text."""
    reset_at = facts.metadata_for(RATE_LIMIT_ERRORS).get(retry.RESET_AT_KEY)
    if isinstance(reset_at, int | float):
        return iso_utc(float(reset_at), timespec="seconds")
    return None


def check_label(evaluation: Any) -> str:
    return f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()}"


def check_id_of(evaluation: Any) -> str:
    """`AC-05`: from the check's metadata (compliance/assets.py records it), else the catalogue,
    else the check's own name."""
    spec = catalogue.BY_NAME.get(evaluation.check_name)
    return str(metadata_values(evaluation.metadata).get(catalogue.CHECK_ID_KEY)
               or (spec.check_id if spec else evaluation.check_name))


def format_items(metadata: Mapping[str, Any], limit: int = MAX_ITEMS_IN_ALERT) -> tuple[list[str], int]:
    """The failing items a check reported, as short strings, capped at `limit`; and their total."""
    values = metadata_values(metadata)
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
            rendered.append(f"{label}: {reason}" if reason and label else str(label or json.dumps(to_jsonable(item))))
        else:
            rendered.append(str(item))
    return rendered, max(total, len(items))


def items_text(metadata: Mapping[str, Any]) -> str:
    items, total = format_items(metadata)
    if not items:
        return ""
    more = f" … and {total - len(items)} more" if total > len(items) else ""
    return f"Failing items ({total}): " + "; ".join(items) + more


def check_text(evaluation: Any) -> str:
    """A failed check in words: its description, observed vs threshold, controls, failing items."""
    values = metadata_values(evaluation.metadata)
    parts = []
    if evaluation.description:
        parts.append(evaluation.description)
    if "observed" in values or "threshold" in values:
        parts.append(f"Observed: {values.get('observed', '?')}; threshold: {values.get('threshold', '?')}.")
    if values.get("controls"):
        parts.append(f"Controls: {values['controls']}.")
    items = items_text(evaluation.metadata)
    if items:
        parts.append(items)
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# Classification


@dataclass(frozen=True)
class Diagnosis:
    """A failed run, classified: what the alert says and what `aircall-pipeline run` prints."""

    kind: str  # auth | rate_limit | s3 | check_failed | config | other
    severity: str  # critical | error
    headline: str  # a few words, after "Aircall evidence run failed for <date>: "
    advice: str  # what happened and what to do about it
    cause: ErrorLink | None  # the error the advice is about; its message is shown as the root cause
    details: dict[str, Any] = field(default_factory=dict)  # structured facts for the alert payload
    also_failed: tuple[str, ...] = ()  # non-blocking checks that failed in the same run

    def title(self, partition: str | None = None, account: str | None = None) -> str:
        """`account`: the name of an accounts-file account, so that N accounts' alerts say whose."""
        whose = f" of account {account}" if account else ""
        return f"Aircall evidence run{whose} failed{f' for {partition}' if partition else ''}: {self.headline}"

    @property
    def cause_line(self) -> str | None:
        return error_line(self.cause) if self.cause is not None else None

    @property
    def text(self) -> str:
        """The advice, then the root cause, then the non-blocking checks that failed too."""
        text = self.advice
        if self.cause is not None:
            text += f"\n{error_line(self.cause)}"
        if self.also_failed:
            text += "\nAlso failed (non-blocking): " + ", ".join(self.also_failed) + "."
        return text


def diagnose(facts: RunFailureFacts) -> Diagnosis:
    """The one classification of a failed run (the first matching kind, in the order below)."""
    names = facts.class_names
    details: dict[str, Any] = {"failed_steps": list(facts.failed_steps), "error_classes": sorted(names)}
    missing = missing_variables(facts)

    if missing or names & CONFIG_ERRORS:
        link = facts.first(CONFIG_ERRORS) or facts.innermost_user_error()
        kind, severity = "config", "critical"
        if missing:
            details["missing_variables"] = missing
            headline = f"{', '.join(missing)} not set"
            advice = (
                f"The run failed at launch, before any step ran: {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set in the environment where runs execute. "
                "Set it in the code server's and the run worker's environment (deploy/.env, or the "
                "Helm envSecrets of the user deployment with includeConfigInLaunchedRuns), then re-run "
                "the partition."
            )
            if any(n.startswith("AIRCALL_API_") for n in missing):
                advice += f" {NEW_KEY_ADVICE}"
        else:
            headline = "invalid configuration"
            advice = "The run failed at launch because of its configuration (details below)."
    elif names & AUTH_ERRORS:
        link = facts.first(AUTH_ERRORS)
        kind, severity = "auth", "critical"
        headline = "the Aircall API key was rejected (401/403)"
        advice = (
            f"The Aircall API key was rejected (401/403). {NEW_KEY_ADVICE} The step was not retried, "
            "and this date has no complete evidence until the partition is re-run with a valid key."
        )
    elif names & RATE_LIMIT_ERRORS:
        link = facts.first(RATE_LIMIT_ERRORS)
        kind, severity = "rate_limit", "error"
        reset = reset_time(facts)
        details["reset_at"] = reset
        headline = "the Aircall API budget is exhausted (429)"
        advice = (
            "The Aircall API rate limit (429) stayed exhausted beyond the pipeline's bounded wait and its "
            f"retries; the budget resets at {reset or 'an unknown time (no reset header was sent)'}. "
            f"{RATE_LIMIT_ADVICE} Then re-run the partition."
        )
    elif names & S3_ERRORS:
        link = facts.first(S3_ERRORS)
        kind, severity = "s3", "critical"
        headline = "the evidence store (S3) failed"
        advice = (
            "Writing or reading the evidence failed. Check EVIDENCE_URI (does the bucket exist?), the AWS "
            "credentials and their permissions (s3:PutObject, s3:GetObject, s3:ListBucket) and "
            "AWS_ENDPOINT_URL_S3. The manifest is written last, so this date holds no complete evidence; "
            "re-run the partition once fixed."
        )
    elif names & CHECK_ERRORS:
        link = facts.first(CHECK_ERRORS)
        kind, severity = "check_failed", "error"
        # Which checks blocked comes from their evaluation events (Dagster marks them `blocking`),
        # never from the wording of Dagster's DagsterAssetCheckFailedError.
        blocking = [e for e in facts.failed_checks if e.blocking]
        checks = [check_label(e) for e in blocking]
        details["failed_checks"] = checks
        details["failed_check_ids"] = [check_id_of(e) for e in blocking]
        headline = f"blocking compliance check failed: {', '.join(e.check_name for e in blocking) or 'see the run'}"
        advice = ("A blocking compliance check failed, so the day's report was not produced: "
                  f"{'; '.join(checks) or 'see the run'}.")
        for evaluation in blocking:
            text = check_text(evaluation)
            if text:
                advice += f"\n{evaluation.check_name}: {text}"
    else:
        link = facts.innermost_user_error()
        kind, severity = "other", "error"
        cls = link.cls_name if link else "unknown error"
        headline = OTHER_EXPLANATIONS.get(cls, cls).split(";")[0]
        advice = (OTHER_EXPLANATIONS[cls] + ".") if cls in OTHER_EXPLANATIONS else "The run failed."
        if not link:
            advice += " No error was recorded; open the run's logs."

    also_failed = tuple(check_label(e) for e in facts.failed_checks if not e.blocking)
    if also_failed:
        details["other_failed_checks"] = list(also_failed)
    return Diagnosis(kind=kind, severity=severity, headline=headline, advice=advice, cause=link,
                     details=details, also_failed=also_failed)
