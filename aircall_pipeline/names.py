"""Every name the pipeline gives to Dagster objects, in one place.

Asset keys, groups, jobs, schedules, sensors, pools, resource keys and tags are public: the UI, the
deploy files, dagster.yaml's run limits and the operators' muscle memory rely on them. Each is
derived here from one `Names` per account, so a rename touches one line, and an account added to
the accounts file gets the whole set.

The single account configured by environment variables keeps the historical names
(`aircall/users`, `aircall_daily_evidence`, the `aircall_api` pool); a named account of the accounts
file gets its name in every one of them (`aircall/acme_eu/users`, `aircall_daily_evidence_acme_eu`,
`aircall_api_acme_eu`).

The evidence folder of an asset is `evidence.layout.table_folder(table_of(key), date)` in that
account's store: the key's last part is the table, whatever prefix the account adds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aircall_pipeline.compliance.catalogue import CHECKS
from aircall_pipeline.evidence.layout import ROOT

if TYPE_CHECKING:  # plain Python otherwise: the Aircall client and the CLI use these names too
    import dagster as dg

# The tables the raw assets write, in the order the report lists them.
RAW_TABLES = ("company", "users", "teams", "team_members", "numbers", "number_users", "calls", "call_windows",
              "webhooks")
# The owner's inputs, sealed into every day as tables (compliance/owner_inputs.py): the effective
# policy with the provenance of each owner file, the roles export and the HR/IdP roster. Written
# every day, configured or not, so the set of a day's tables is fixed.
OWNER_POLICY, OWNER_ROLES, OWNER_ROSTER = "owner_policy", "owner_roles", "owner_roster"
OWNER_TABLES = (OWNER_POLICY, OWNER_ROLES, OWNER_ROSTER)
# The raw assets whose materializations record their API request counts (one per API sweep).
API_TABLES = ("company", "users", "teams", "numbers", "calls", "webhooks")
# What a backfill of past days may collect: snapshots can only be taken of the day they describe.
HISTORY_TABLES = ("calls", "call_windows")
# One findings table per check of the catalogue (`CheckSpec.table`).
FINDINGS_TABLES = tuple(spec.table for spec in CHECKS)
# Every table of a day's evidence, which its manifest must list (`verify` checks that it does).
EVIDENCE_TABLES = RAW_TABLES + OWNER_TABLES + FINDINGS_TABLES
CHECK_IDS = tuple(spec.check_id for spec in CHECKS)
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

OWNERS = ["team:security-grc"]
ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def table_of(key: dg.AssetKey) -> str:
    """The evidence table an asset writes: the last part of its key."""
    return key.path[-1]


@dataclass(frozen=True)
class Names:
    """The names of one account's Dagster objects. `account=None`: the environment's single account."""

    account: str | None = None

    def __post_init__(self) -> None:
        if self.account is not None and not ACCOUNT_NAME.match(self.account):
            raise ValueError(f"account name {self.account!r}: use [a-z][a-z0-9_]{{0,30}}")

    def _suffix(self, base: str) -> str:
        return f"{base}_{self.account}" if self.account else base

    def key(self, table: str) -> dg.AssetKey:
        import dagster as dg

        return dg.AssetKey([ROOT, self.account, table] if self.account else [ROOT, table])

    def keys(self, tables: tuple[str, ...]) -> list[dg.AssetKey]:
        return [self.key(t) for t in tables]

    @property
    def report_key(self) -> dg.AssetKey:
        return self.key(REPORT)

    @property
    def raw_group(self) -> str:
        return self._suffix("aircall_raw")

    @property
    def owner_group(self) -> str:
        return self._suffix("aircall_owner_inputs")

    @property
    def compliance_group(self) -> str:
        return self._suffix("aircall_compliance")

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool of the account's API steps (one step at a time by default)."""
        return self._suffix("aircall_api")

    @property
    def budget(self) -> str:
        """The key of the account's API budget in the shared limiter (SQLite table or Redis key)."""
        return self._suffix("aircall")

    @property
    def daily_job(self) -> str:
        return self._suffix("aircall_daily_evidence")

    @property
    def history_job(self) -> str:
        return self._suffix("aircall_call_history")

    @property
    def schedule(self) -> str:
        return f"{self.daily_job}_schedule"

    def sensor(self, base: str) -> str:
        """Per-account sensors (freshness, schedule failures); the run sensors watch every account."""
        return self._suffix(base)

    def resource(self, kind: str) -> str:
        """Resource keys: `aircall`, `evidence`, `compliance`, `io_manager`, suffixed per account."""
        return self._suffix(kind)

    def op(self, base: str) -> str:
        """Op names of multi-assets, unique across accounts."""
        return self._suffix(base)

    def out(self, table: str) -> str:
        """The output name of a table inside a multi-asset."""
        return f"{ROOT}__{table}"


# The environment's single account (no accounts file): the historical names.
SINGLE_ACCOUNT = Names()
