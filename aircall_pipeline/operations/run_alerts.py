"""What the alert of one run says: its failure diagnosed (failures.py) and the account it belongs to.

Shared by the run-failure sensor (failure_sensor.py), the check-result sensor (check_sensor.py) and
`aircall-pipeline run`, which all describe a run the same way.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from aircall_pipeline.ingest.partitions import ACCOUNT_DIM, account_name, account_of_key, day_of
from aircall_pipeline.names import ACCOUNT_TAG, PARTITION_TAG
from aircall_pipeline.operations.alerts import Alert, AlertSettings, alert_settings, run_url
from aircall_pipeline.operations.failures import (
    FAILURE_EVENT_TYPES,
    RunFailureFacts,
    diagnose,
    facts_from_events,
)


def gather_failure_facts(instance: dg.DagsterInstance, run_id: str) -> RunFailureFacts:
    """The failure facts of a run, from its event log (see failures.facts_from_events)."""
    return facts_from_events(record.dagster_event for record in instance.all_logs(run_id, of_type=FAILURE_EVENT_TYPES))


def run_context(run: Any) -> tuple[str | None, dict[str, Any]]:
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
    partition, details = run_context(run)
    return Alert(
        title=diagnosis.title(partition, account_of_run(run)),
        severity=diagnosis.severity,
        kind=diagnosis.kind,
        text=diagnosis.text,
        run_id=run.run_id,
        run_url=run_url(run.run_id, settings),
        details={**details, **diagnosis.details},
    )


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
