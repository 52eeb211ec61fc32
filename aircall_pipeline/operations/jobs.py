"""The jobs, one of each for every account: the daily evidence job, and the job that backfills call
history. A run is one account's (its partition names the account).

Their runs carry the `aircall/account` tag (`run_tags`: the scheduler, the CLI and the backfill
command set it; a run launched from the UI is tagged by the partition's account dimension key
`dagster/partition/account`), the key of the one-run-per-account limit in dagster.yaml, and a
`dagster/priority`: the daily job's is higher. With one run per account at a time, a backfill is a queue of chunk runs (several days each,
see ingest/assets.py); whenever a chunk ends, the queue starts the highest priority run of that
account first, so a daily run waits for at most the one chunk already running, never for the rest
of the backfill. Pool slots are granted in the same priority order.
"""

from __future__ import annotations

import warnings

import dagster as dg

from aircall_pipeline.config.settings import Account
from aircall_pipeline.names import (
    ACCESS_REVIEWS,
    ACCOUNT_TAG,
    API_POOL,
    COMPLIANCE_GROUP,
    DAILY_JOB,
    HISTORY_JOB,
    HISTORY_TABLES,
    OWNER_GROUP,
    PRIORITY_TAG,
    RAW_GROUP,
    key,
    keys,
)

DAILY_PRIORITY = 10
BACKFILL_PRIORITY = -10  # below the default (0) of runs launched by hand

# The daily job holds the calls asset (several days per backfill run) and assets without a policy
# (one day per run). Dagster then uses the smallest, one day per run, which is what the daily job is
# for, and warns each time the definitions load; the warning says nothing an operator should act on.
warnings.filterwarnings("ignore", message=r"Asset job aircall_daily_evidence\w* materializes assets with varying "
                                          r"BackfillPolicies", category=UserWarning)


def build_daily_job() -> dg.JobDefinition:
    """The daily job, for every account: a run is one account's day (its partition); the run's
    `aircall/account` tag is set by whoever launches it (the scheduler, the CLI, `run_tags`)."""
    return dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.groups(RAW_GROUP, OWNER_GROUP, COMPLIANCE_GROUP) - dg.AssetSelection.assets(
            key(ACCESS_REVIEWS)),
        tags={PRIORITY_TAG: str(DAILY_PRIORITY)},
        # One process for the whole day: the steps are small (seconds of work each) and API steps
        # run one at a time anyway (one run per account), so a process per step would only add
        # start-up time, several times the work itself.
        executor_def=dg.in_process_executor,
        description="Collect one day of one account's Aircall evidence (snapshots + that day's calls) and the "
                    "owner's inputs, evaluate every compliance check, and write the day's report and manifest "
                    "to the account's evidence store.",
    )


def build_call_history_job() -> dg.JobDefinition:
    """The calls multi-asset alone, for backfills of past days (one account's date range)."""
    return dg.define_asset_job(
        HISTORY_JOB,
        selection=dg.AssetSelection.assets(*keys(HISTORY_TABLES)),
        tags={PRIORITY_TAG: str(BACKFILL_PRIORITY)},
        # One step: a process of its own would only add start-up time to every chunk.
        executor_def=dg.in_process_executor,
        description="Backfill call history: calls and their fetch windows for past days of one account, behind "
                    f"the per-account run limit and the {API_POOL} pool.",
    )


def run_tags(account: Account, *, priority: int = DAILY_PRIORITY) -> dict[str, str]:
    """The tags of a run of `account`: the one-run-per-account limit's key, and its priority."""
    return {ACCOUNT_TAG: account.label, PRIORITY_TAG: str(priority)}
