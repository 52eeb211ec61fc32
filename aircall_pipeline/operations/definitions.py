"""The operations side of one account as a `Definitions`, merged by the root definitions.py: its
daily job, call-history job, schedule, and the sensors that watch its evidence and schedule. The
sensors that watch every run (failures, check results) are added once by the root."""

import dagster as dg

from aircall_pipeline.names import Names
from aircall_pipeline.operations.jobs import build_call_history_job, build_daily_job
from aircall_pipeline.operations.schedules import build_evidence_schedule
from aircall_pipeline.operations.sensors import account_sensors
from aircall_pipeline.settings import Account, Settings


def build_account_operations(
    names: Names, account: Account, settings: Settings, partitions_def: dg.TimeWindowPartitionsDefinition
) -> dg.Definitions:
    return dg.Definitions(
        jobs=[build_daily_job(names, account), build_call_history_job(names, account)],
        schedules=[build_evidence_schedule(partitions_def, names=names, account=account, settings=settings)],
        sensors=account_sensors(names, account.policy_file),
    )
