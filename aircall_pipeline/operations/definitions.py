"""The operations side as a `Definitions`, merged by the root definitions.py: the daily job, the
call-history job, and the sensors: the registry (accounts file -> `aircall_accounts` partitions),
the one scheduler of every account's day, and the alert sensors, one of each for every account."""

import dagster as dg

from aircall_pipeline.config.settings import Settings
from aircall_pipeline.operations.jobs import build_call_history_job, build_daily_job
from aircall_pipeline.operations.registry_sensor import build_registry_sensor
from aircall_pipeline.operations.scheduler import build_scheduler
from aircall_pipeline.operations.sensors import account_sensors, run_sensors


def build_operations(settings: Settings) -> dg.Definitions:
    running = settings.schedule_running
    return dg.Definitions(
        jobs=[build_daily_job(), build_call_history_job()],
        sensors=[build_registry_sensor(), build_scheduler(running=running), *run_sensors(), *account_sensors()],
    )
