"""The daily partitions of one account: one evidence date = one partition.

Partition keys are calendar days in the account's timezone (AIRCALL_TIMEZONE, or `timezone:` in
the accounts file) from AIRCALL_PARTITIONS_START, but never before the call history horizon
(AIRCALL_HISTORY_DAYS before the day the definitions load): Aircall answers older call windows with
an empty list, so offering those days would invite evidence of nothing. They are built when the definitions load
(`build_defs(settings)`), never at import, so one invalid value cannot stop the code location from
loading, and the alert sensors with it.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from aircall_pipeline.ingest.timing import history_start
from aircall_pipeline.settings import Account, Settings


def first_partition(account: Account, settings: Settings, now: datetime | None = None) -> str:
    """The first evidence date offered: AIRCALL_PARTITIONS_START or the history horizon, the later.

    The horizon moves with time; a code location loaded long ago may still offer a day that has since
    passed it, which the calls asset then refuses (timing.ensure_within_history)."""
    today = (now or datetime.now(ZoneInfo(account.timezone))).astimezone(ZoneInfo(account.timezone)).date()
    horizon = history_start(today, settings.history_days)
    return max(date.fromisoformat(settings.partitions_start), horizon).isoformat()


def partitions_for(account: Account, settings: Settings) -> dg.DailyPartitionsDefinition:
    # With end_offset=0 the newest partition is the last *completed* day, which is what the daily
    # schedule targets.
    return dg.DailyPartitionsDefinition(start_date=first_partition(account, settings), timezone=account.timezone)
