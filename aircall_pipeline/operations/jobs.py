"""One account's jobs: the daily evidence job, and the job that backfills call history.

Both carry the `aircall/account` tag however they are launched (schedule, UI, CLI), so the
one-run-per-account limit in dagster.yaml always holds.
"""

from __future__ import annotations

import dagster as dg

from aircall_pipeline.names import ACCOUNT_TAG, HISTORY_TABLES, Names
from aircall_pipeline.settings import Account


def build_daily_job(names: Names, account: Account) -> dg.JobDefinition:
    return dg.define_asset_job(
        names.daily_job,
        selection=dg.AssetSelection.groups(names.raw_group, names.compliance_group),
        tags={ACCOUNT_TAG: account.label},
        # One process for the whole day: the steps are small (seconds of work each) and API steps
        # run one at a time anyway (the account's pool), so a process per step would only add
        # start-up time, several times the work itself.
        executor_def=dg.in_process_executor,
        description="Collect one day of Aircall evidence (snapshots + that day's calls), evaluate every "
                    "compliance check, and write the day's report and manifest to the evidence store.",
    )


def build_call_history_job(names: Names, account: Account) -> dg.JobDefinition:
    """The calls multi-asset alone, for backfills of past days."""
    return dg.define_asset_job(
        names.history_job,
        selection=dg.AssetSelection.assets(*names.keys(HISTORY_TABLES)),
        tags={ACCOUNT_TAG: account.label},
        description="Backfill call history: calls and their fetch windows for past days, behind the "
                    f"per-account run limit and the {names.pool} pool.",
    )
