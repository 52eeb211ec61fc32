"""A code location for the scheduler test: a job needing the Aircall credentials, and the real
evidence schedule built for it (UTC partitions)."""

import dagster as dg
from aircall_pipeline.operations.schedules import build_evidence_schedule

from aircall_pipeline_tests.operations.jobs import PARTITIONS, config_defs

defs = dg.Definitions.merge(config_defs, dg.Definitions(schedules=[build_evidence_schedule(PARTITIONS)]))
