"""The daily evidence job: every raw, compliance and report asset for one evidence date."""

import dagster as dg

from aircall_pipeline.compliance.assets import COMPLIANCE_GROUP
from aircall_pipeline.ingest.assets import RAW_GROUP

DAILY_JOB_NAME = "aircall_daily_evidence"

daily_evidence_job = dg.define_asset_job(
    DAILY_JOB_NAME,
    selection=dg.AssetSelection.groups(RAW_GROUP, COMPLIANCE_GROUP),
    description="Collect one day of Aircall evidence (snapshots + that day's calls), evaluate every "
                "compliance check, and write the day's report and manifest to the evidence store.",
)
