"""One account's jobs: the daily evidence job, and the job that backfills call history.

Both carry the `aircall/account` tag however they are launched (schedule, UI, CLI), so the
one-run-per-account limit in dagster.yaml always holds, and a `dagster/priority`: the daily job's is
higher. With one run per account at a time, a backfill is a queue of chunk runs (several days each,
see ingest/assets.py); whenever a chunk ends, the queue starts the highest priority run of that
account first, so a daily run waits for at most the one chunk already running, never for the rest
of the backfill. Pool slots are granted in the same priority order.
"""

from __future__ import annotations

import warnings

import dagster as dg

from aircall_pipeline.names import ACCOUNT_TAG, HISTORY_TABLES, PRIORITY_TAG, Names
from aircall_pipeline.settings import Account

DAILY_PRIORITY = 10
BACKFILL_PRIORITY = -10  # below the default (0) of runs launched by hand

# The daily job holds the calls asset (several days per backfill run) and assets without a policy
# (one day per run). Dagster then uses the smallest, one day per run, which is what the daily job is
# for, and warns each time the definitions load; the warning says nothing an operator should act on.
warnings.filterwarnings("ignore", message=r"Asset job aircall_daily_evidence\w* materializes assets with varying "
                                          r"BackfillPolicies", category=UserWarning)


def build_daily_job(names: Names, account: Account) -> dg.JobDefinition:
    return dg.define_asset_job(
        names.daily_job,
        selection=dg.AssetSelection.groups(names.raw_group, names.owner_group, names.compliance_group),
        tags={ACCOUNT_TAG: account.label, PRIORITY_TAG: str(DAILY_PRIORITY)},
        # One process for the whole day: the steps are small (seconds of work each) and API steps
        # run one at a time anyway (the account's pool), so a process per step would only add
        # start-up time, several times the work itself.
        executor_def=dg.in_process_executor,
        description="Collect one day of Aircall evidence (snapshots + that day's calls) and the owner's inputs, "
                    "evaluate every compliance check, and write the day's report and manifest to the evidence store.",
    )


def build_call_history_job(names: Names, account: Account) -> dg.JobDefinition:
    """The calls multi-asset alone, for backfills of past days."""
    return dg.define_asset_job(
        names.history_job,
        selection=dg.AssetSelection.assets(*names.keys(HISTORY_TABLES)),
        tags={ACCOUNT_TAG: account.label, PRIORITY_TAG: str(BACKFILL_PRIORITY)},
        # One step: a process of its own would only add start-up time to every chunk.
        executor_def=dg.in_process_executor,
        description="Backfill call history: calls and their fetch windows for past days, behind the "
                    f"per-account run limit and the {names.pool} pool.",
    )
