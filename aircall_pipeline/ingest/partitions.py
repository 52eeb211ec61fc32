"""The daily partitions of one account: one evidence date = one partition.

Partition keys are calendar days in the account's timezone (AIRCALL_TIMEZONE, or `timezone:` in
the accounts file) from AIRCALL_PARTITIONS_START. They are built when the definitions load
(`build_defs(settings)`), never at import, so one invalid value cannot stop the code location from
loading, and the alert sensors with it.
"""

from __future__ import annotations

import dagster as dg

from aircall_pipeline.settings import Account, Settings


def partitions_for(account: Account, settings: Settings) -> dg.DailyPartitionsDefinition:
    # With end_offset=0 the newest partition is the last *completed* day, which is what the daily
    # schedule targets.
    return dg.DailyPartitionsDefinition(start_date=settings.partitions_start, timezone=account.timezone)
