"""Every name the pipeline gives to Dagster objects, in one place.

Asset keys, groups, jobs, sensors, pools, resource keys and tags are public: the UI, the deploy
files, dagster.yaml's run limits and the operators' muscle memory rely on them. There is one of each
whatever the number of accounts: the account is data (a dimension of every asset's partitions, see
ingest/partitions.py, and the `aircall/account` tag of every run), never part of a name. The keys
are those of the historical single-account deployment (`aircall/users`, `aircall_daily_evidence`,
the `aircall_api` pool).

The evidence folder of an asset is `evidence.layout.table_folder(table_of(key), date)` in the
account's store: the key's last part is the table.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aircall_pipeline.evidence.day_tables import (  # noqa: F401 - the assets' names are these tables'
    API_TABLES,
    CHECK_IDS,
    EVIDENCE_TABLES,
    FINDINGS_TABLES,
    HISTORY_TABLES,
    OWNER_POLICY,
    OWNER_ROLES,
    OWNER_ROSTER,
    OWNER_TABLES,
    RAW_TABLES,
)
from aircall_pipeline.evidence.layout import ROOT

if TYPE_CHECKING:  # plain Python otherwise: the Aircall client and the CLI use these names too
    import dagster as dg

REPORT = "evidence_report"
ACCESS_REVIEWS = "access_reviews"

ACCOUNT_TAG = "aircall/account"  # dagster.yaml limits runs per value of this tag
CHECK_TAG = "aircall/check"
WILL_RETRY_TAG = "dagster/will_retry"
PARTITION_TAG = "dagster/partition"
# The run queue starts the highest priority first, and pools hand out slots in the same order
# (Dagster's `dagster/priority`): the daily run goes before any queued backfill chunk.
PRIORITY_TAG = "dagster/priority"

RUN_FAILURE_SENSOR = "aircall_run_failure_alert"
FAILED_CHECK_SENSOR = "aircall_failed_check_alert"
FRESHNESS_SENSOR = "aircall_evidence_freshness"
SCHEDULE_FAILURE_SENSOR = "aircall_schedule_failure_alert"
REVIEWS_SENSOR = "aircall_access_reviews"
TAMPER_SENSOR = "aircall_tamper_alert"
# The report materialization's metadata entry listing the objects its sealing newly rejected
# (written by compliance/report_assets.py, read by the tamper sensor).
TAMPER_METADATA = "tamper"

REGISTRY_SENSOR = "aircall_account_registry"
SCHEDULER_SENSOR = "aircall_daily_scheduler"

RAW_GROUP = "aircall_raw"
OWNER_GROUP = "aircall_owner_inputs"
COMPLIANCE_GROUP = "aircall_compliance"
DAILY_JOB = "aircall_daily_evidence"
HISTORY_JOB = "aircall_call_history"
# One concurrency pool for every account's API steps, sized in dagster.yaml for the run launcher;
# each account's own budget is enforced by its limiter key (Account.budget), not by the pool.
API_POOL = "aircall_api"
# The fixed resource keys the assets take as typed parameters.
ACCOUNTS_RESOURCE, AIRCALL_RESOURCE, EVIDENCE_RESOURCE, COMPLIANCE_RESOURCE, IO_MANAGER = (
    "accounts", "aircall", "evidence", "compliance", "io_manager")
# The dynamic partitions holding the registry's accounts (one dimension of every asset's partitions).
ACCOUNTS_PARTITIONS = "aircall_accounts"

OWNERS = ["team:security-grc"]
ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def table_of(key: dg.AssetKey) -> str:
    """The evidence table an asset writes: the last part of its key."""
    return key.path[-1]


def key(table: str) -> dg.AssetKey:
    """The asset key of an evidence table (or the report): `aircall/<table>`, whatever the account."""
    import dagster as dg

    return dg.AssetKey([ROOT, table])


def keys(tables: tuple[str, ...]) -> list[dg.AssetKey]:
    return [key(t) for t in tables]


def out(table: str) -> str:
    """The output name of a table inside a multi-asset."""
    return f"{ROOT}__{table}"


def report_key() -> dg.AssetKey:
    return key(REPORT)
