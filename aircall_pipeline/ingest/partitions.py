"""The daily partitions every asset shares: one evidence date = one partition."""

import dagster as dg

from aircall_pipeline.settings import Settings

_settings = Settings.from_env()

# Partition keys are calendar days in AIRCALL_TIMEZONE; with end_offset=0 the newest partition is
# the last *completed* day, which is what the daily schedule targets.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.partitions_start,
    timezone=_settings.timezone,
)
