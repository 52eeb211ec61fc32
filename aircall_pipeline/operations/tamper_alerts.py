"""The `tamper` alert: an object appeared in an account's evidence that the pipeline did not write.

When the report seals a day it verifies every earlier manifest attempt of the day, and the previous
day's newest, against its own key; one that does not verify (unsigned, signed by another key,
malformed) is recorded in the new manifest's `rejected` list and never chained to. The rejections
that no earlier attempt had recorded are the report materialization's `tamper` metadata
(compliance/report_assets.py); this sensor turns them into one alert per planted object.

Why a sensor over the report's materializations, and not an alert sent by the sealing step:
- the materialization is written to the event log in the same step that sealed the day, so the
  fact survives the step; a send from the step would either be lost when the step fails after
  sealing (its retry chains to the attempt that recorded the object, so the object is no longer
  new) or repeated by every retry that reaches it;
- the sensor's cursor is the storage id of the last materialization it read, so a tick, however
  many there are, reads each materialization once;
- the cursor also remembers the objects (account, path and sha256) it has alerted, because one planted
  object can be new twice at the data level: a forged attempt of day D is rejected when D+1 is
  sealed (as D's newest attempt) and again when D is re-sealed, and a rerun that keeps a
  byte-identical attempt reports that attempt's rejections again. The account is part of what it
  remembers: the same bytes planted at the same path in two accounts' stores are two objects.
A materialization the step never recorded (the process died between sealing and the event) is
the one gap: that run fails and gets its own failure alert, and `verify` reports the object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from aircall_pipeline.evidence.layout import day_of_folder
from aircall_pipeline.ingest.partitions import account_name, account_of_key, day_of
from aircall_pipeline.names import TAMPER_METADATA, TAMPER_SENSOR, report_key
from aircall_pipeline.operations.alerts import (
    Alert,
    AlertSettings,
    alert_settings,
    report_url,
    run_url,
    send_alert,
)

# How many report materializations one tick reads; the next tick goes on from the cursor.
MATERIALIZATIONS_PER_TICK = 100
# How many alerted objects the cursor remembers (newest kept): far more than ever planted, bounded
# so that the cursor stays small.
REMEMBERED_OBJECTS = 1000

# The store's rejection reasons start with the failed check's state (store._newest_trusted and
# signing.check_signature); the alert says each in words.
REASON_LABELS = {
    "missing": "unsigned (it has no signature file)",
    "foreign": "signed by another key",
    "malformed": "malformed",
    "moved": "its signature covers another file",
    "invalid": "its signature does not verify",
}
UNREADABLE = "not a readable evidence object"

ADVICE = (
    "The pipeline did not write these objects: someone with write access to the evidence store put "
    "them there (or changed what the pipeline wrote). They were not chained to, and the new manifest "
    "records them as rejected. Do not delete them: they are the record of the attempt. Check who "
    "has write access to the evidence bucket (its policy, IAM roles, and its access logs or CloudTrail "
    "data events for when the objects appeared) and take it away from everyone but the pipeline; then "
    "run `{verify}` to see whether anything else in those days changed."
)


@dataclass(frozen=True)
class Rejection:
    """One rejected object as the report's `tamper` metadata lists it."""

    path: str
    sha256: str | None
    reason: str

    @property
    def key(self) -> str:
        return f"{self.path}@{self.sha256 or '-'}"

    @property
    def label(self) -> str:
        return REASON_LABELS.get(self.reason.split(":", 1)[0].strip(), UNREADABLE)

    @property
    def day(self) -> str | None:
        return next((d for d in map(day_of_folder, self.path.split("/")) if d), None)

    @classmethod
    def parse(cls, value: Any) -> Rejection | None:
        if not isinstance(value, Mapping) or not isinstance(value.get("path"), str):
            return None
        sha = value.get("sha256")
        return cls(value["path"], sha if isinstance(sha, str) else None, str(value.get("reason") or ""))


def verify_command(days: Sequence[str], account_name: str | None) -> str:
    account = f" --account {account_name}" if account_name else ""
    first, last = min(days), max(days)
    return f"aircall-pipeline verify{account} --date {first}" + (f" --to {last}" if last != first else "")


def tamper_alert(
    day: str, rejections: Sequence[Rejection], *, account: str | None = None, manifest: str | None = None,
    run_id: str | None = None, settings: AlertSettings | None = None, partition: str | None = None,
) -> Alert:
    """The one alert for the objects a sealing of `day` newly rejected. `account`: the name of an
    accounts-file account (None: the single account); `partition`: the report's partition key."""
    settings = settings or alert_settings()
    whose = f" of account {account}" if account else ""
    count = len(rejections)
    days = sorted({day, *(r.day for r in rejections if r.day)})
    listed = "\n".join(f"- {r.path}: {r.label} ({r.reason})" for r in rejections)
    text = (f"Sealing the evidence{whose} of {day} found {count} object(s) that do not verify against the "
            f"pipeline's signing key:\n{listed}\n" + ADVICE.format(verify=verify_command(days, account)))
    if manifest:
        text += f"\nThe manifest recording them: {manifest}"
    return Alert(
        title=f"Aircall evidence{whose} of {day}: {count} object(s) the pipeline did not write",
        severity="critical",
        kind="tamper",
        text=text,
        run_id=run_id,
        run_url=run_url(run_id, settings) if run_id else None,
        details={"partition": day, "account": account, "manifest": manifest, "days": days,
                 "objects": [{"path": r.path, "sha256": r.sha256, "reason": r.reason} for r in rejections]},
        links=(("Report", report_url(partition or day, settings)),),
    )


@dataclass(frozen=True)
class TamperCursor:
    after: int = -1  # storage id of the last report materialization read
    alerted: tuple[str, ...] = field(default_factory=tuple)  # alerted_key(), oldest first

    @classmethod
    def parse(cls, raw: str | None) -> TamperCursor:
        try:
            data = json.loads(raw) if raw else {}
            return cls(int(data.get("after", -1)), tuple(str(k) for k in data.get("alerted") or ()))
        except (ValueError, TypeError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps({"after": self.after, "alerted": list(self.alerted[-REMEMBERED_OBJECTS:])})


def alerted_key(account_key: str | None, rejection: Rejection) -> str:
    """What the cursor remembers of an alerted object: its key within its account. The single
    account's keys are the bare Rejection.key, as its cursor held them before accounts were data."""
    name = account_name(account_key)
    return f"{name}:{rejection.key}" if name else rejection.key


def _rejections(metadata: Mapping[str, Any]) -> list[Rejection]:
    entry = metadata.get(TAMPER_METADATA)
    values = entry.value if entry is not None else None
    return [r for r in map(Rejection.parse, values if isinstance(values, list) else []) if r is not None]


def evaluate_tamper(
    instance: dg.DagsterInstance, cursor: str | None, *,
    settings: AlertSettings | None = None, limit: int = MATERIALIZATIONS_PER_TICK,
) -> tuple[list[Alert], str, str]:
    """(the alerts to send, the new cursor, a one-line status) for every account's report
    materializations since the cursor. Unlike the check alerts, the first evaluation reads from the
    start: an object planted before the sensor's first tick must still be reported, and reports
    older than the `tamper` metadata have none, so history sends nothing it should not."""
    state = TamperCursor.parse(cursor)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=report_key(), after_storage_id=state.after), limit=limit, ascending=True,
    ).records
    settings = settings or alert_settings()
    alerts: list[Alert] = []
    after, alerted = state.after, list(state.alerted)
    for record in records:
        after = record.storage_id
        materialization = record.asset_materialization
        if materialization is None:
            continue
        key = record.partition_key
        account_key = account_of_key(key) if key and "|" in key else None
        seen = set(alerted)
        new = [r for r in _rejections(materialization.metadata) if alerted_key(account_key, r) not in seen]
        new = list({r.key: r for r in new}.values())
        if not new:
            continue
        manifest = materialization.metadata.get("manifest")
        alerts.append(tamper_alert(
            day_of(key) if account_key else (key or "unknown day"), new,
            account=account_name(account_key), partition=key,
            settings=settings, run_id=record.run_id or None,
            manifest=str(manifest.value) if manifest is not None else None,
        ))
        alerted += [alerted_key(account_key, r) for r in new]
    status = (f"{len(records)} report(s) read, {len(alerts)} tamper alert(s)" if records
              else "no new report since the last tick")
    return alerts, TamperCursor(after, tuple(alerted)).dump(), status


def build_tamper_sensor(
    *,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds: int = 30,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=TAMPER_SENSOR,
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description=f"Alerts (kind `tamper`) once per object that sealing {report_key().to_user_string()} of any account "
                    "found in the evidence and the pipeline did not write (an unsigned, foreign-signed or "
                    "malformed manifest attempt), naming the object, why, and what to do.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        alerts, cursor, status = evaluate_tamper(context.instance, context.cursor)
        for alert in alerts:
            send_alert(alert, log=context.log)
        # Updated after sending: a tick that dies mid-way repeats an alert rather than losing it.
        context.update_cursor(cursor)
        return dg.SkipReason(status)

    return _sensor
