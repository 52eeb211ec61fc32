"""A code location for the scheduler daemon tests (test_schedules.py): the project's assets, daily
job and resources, and the one scheduler sensor on a clock the test sets (SCHEDULER_TEST_NOW, an
ISO 8601 time read in the code server, which the daemon starts as a process of its own).

Built as definitions.load_defs builds the real ones: unusable settings still load (from the
defaults), so it is the scheduler's tick that fails. One difference, on purpose: the API resource
always reads its limiter URL from AIRCALL_LIMITER_URL when a run is created (what build_resources
does for a URL that holds a password), so a variable missing in the code server fails the tick at
run creation, before any run exists."""

import os
from datetime import datetime

import dagster as dg

from aircall_pipeline.config.settings import LIMITER_URL_VAR, Settings, SettingsError
from aircall_pipeline.definitions import build_assets, build_resources
from aircall_pipeline.names import AIRCALL_RESOURCE
from aircall_pipeline.operations.jobs import build_daily_job
from aircall_pipeline.operations.scheduler import build_scheduler
from aircall_pipeline.resources.aircall import AircallResource

CLOCK_VAR = "SCHEDULER_TEST_NOW"


def clock() -> datetime:
    return datetime.fromisoformat(os.environ[CLOCK_VAR])


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError:
        return Settings.defaults()


@dg.definitions
def defs() -> dg.Definitions:
    settings = _settings()
    resources = build_resources(settings)
    resources[AIRCALL_RESOURCE] = AircallResource(limiter_url=dg.EnvVar(LIMITER_URL_VAR),
                                                  rate_limit_window_seconds=settings.rate_limit_window_seconds)
    return dg.Definitions(assets=build_assets(settings), jobs=[build_daily_job()],
                          sensors=[build_scheduler(clock=clock)], resources=resources)
