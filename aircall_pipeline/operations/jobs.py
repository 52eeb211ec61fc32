"""The daily evidence job: every raw, compliance and report asset for one evidence date."""

import dagster as dg

from aircall_pipeline.compliance.assets import COMPLIANCE_GROUP
from aircall_pipeline.ingest.assets import RAW_GROUP
from aircall_pipeline.operations.schedules import account_tag_value
from aircall_pipeline.operations.sensors import ACCOUNT_TAG, EVIDENCE_JOB_NAME
from aircall_pipeline.settings import Settings

DAILY_JOB_NAME = EVIDENCE_JOB_NAME


def build_daily_job(settings: Settings):
    # The account tag applies to every run of the job, however it is launched (schedule, UI, CLI),
    # so the one-run-per-account limit in dagster.yaml always holds.
    return dg.define_asset_job(
        DAILY_JOB_NAME,
        selection=dg.AssetSelection.groups(RAW_GROUP, COMPLIANCE_GROUP),
        tags={ACCOUNT_TAG: account_tag_value(settings)},
        # One process for the whole day: the steps are small (seconds of work each) and API steps
        # run one at a time anyway (the aircall_api pool), so a process per step would only add
        # start-up time, several times the work itself.
        executor_def=dg.in_process_executor,
        description="Collect one day of Aircall evidence (snapshots + that day's calls), evaluate every "
                    "compliance check, and write the day's report and manifest to the evidence store.",
    )
