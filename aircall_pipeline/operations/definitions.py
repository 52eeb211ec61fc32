"""The operations side of the pipeline as one `Definitions`, merged by the root definitions.py:
the daily schedule, the call-history backfill job, and the alerting sensors.

Cross-cutting policy that the root applies to the assets (not held here, because it needs them):
`operations.freshness.apply_freshness(defs)` and, on every API-calling asset,
`retry_policy=operations.retry.API_RETRY_POLICY` with `@operations.retry.no_retry_on_auth_error`.
"""

import dagster as dg

from aircall_pipeline.ingest.partitions import partitions_for
from aircall_pipeline.operations.schedules import build_call_history_job, build_evidence_schedule
from aircall_pipeline.operations.sensors import sensors
from aircall_pipeline.settings import Settings


def build_operations_defs(settings: Settings) -> dg.Definitions:
    """Schedule (cron, timezone and default status from `settings`), history job and sensors."""
    return dg.Definitions(
        jobs=[build_call_history_job(settings)],
        schedules=[build_evidence_schedule(partitions_for(settings), settings=settings)],
        sensors=sensors,
    )
