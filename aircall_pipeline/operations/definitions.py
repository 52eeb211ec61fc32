"""The operations side of the pipeline as one `Definitions`, merged by the root definitions.py:
the daily schedule, the call-history backfill job, and the alerting sensors.

Cross-cutting policy that the root applies to the assets (not held here, because it needs them):
`operations.freshness.apply_freshness(defs)` and, on every API-calling asset,
`retry_policy=operations.retry.API_RETRY_POLICY` with `@operations.retry.no_retry_on_auth_error`.
"""

import dagster as dg

from aircall_pipeline.operations.schedules import build_call_history_job, build_evidence_schedule
from aircall_pipeline.operations.sensors import sensors
from aircall_pipeline.settings import Settings


def build_operations_defs(settings: Settings | None = None) -> dg.Definitions:
    """Schedule (cron and default status from `settings`), history job and sensors."""
    settings = settings or Settings.from_env()
    return dg.Definitions(
        jobs=[build_call_history_job(settings)],
        schedules=[build_evidence_schedule(settings=settings)],
        sensors=sensors,
    )


defs = build_operations_defs()
