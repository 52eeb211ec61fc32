"""`aircall_evidence_freshness`: one `stale` alert per staleness episode of each account's evidence.

The newest evidence report (compliance/newest_evidence.py) is judged by AC-15's own rule
(`rules.is_stale`) against the account's policy (freshness.py's `policy_max_age`); the cursor remembers,
per account, the episode already alerted, so an alert goes out again only after fresh evidence has
gone stale anew.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dagster as dg

from aircall_pipeline.compliance.newest_evidence import newest_evidence
from aircall_pipeline.compliance.rules import is_stale
from aircall_pipeline.config.settings import Account
from aircall_pipeline.ingest.partitions import account_name, day_of
from aircall_pipeline.names import DAILY_JOB, FRESHNESS_SENSOR, SCHEDULER_SENSOR, report_key
from aircall_pipeline.operations.alerts import Alert, AlertSettings, alert_settings, run_url, send_alert
from aircall_pipeline.operations.failures import iso_utc
from aircall_pipeline.operations.freshness import policy_max_age


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
