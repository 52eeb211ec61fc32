"""The operations side of the pipeline as one `Definitions`, merged by the root definitions.py:
the daily schedule, the call-history backfill job, and the alerting sensors.

Cross-cutting policy that the root applies to the assets (not held here, because it needs them):
`operations.freshness.apply_freshness(defs)` and, on every API-calling asset,
`retry_policy=operations.retry.API_RETRY_POLICY` with `@operations.retry.no_retry_on_auth_error`.
"""

import dagster as dg

from aircall_pipeline.operations.schedules import call_history_job, evidence_schedule
from aircall_pipeline.operations.sensors import sensors

defs = dg.Definitions(
    jobs=[call_history_job],
    schedules=[evidence_schedule],
    sensors=sensors,
)
