"""One scheduler for every account's own clock: the `aircall_daily_scheduler` sensor.

Each account has its `schedule_cron` in its `timezone` (the accounts file; AIRCALL_SCHEDULE_CRON and
AIRCALL_TIMEZONE for the single account). On every tick (every minute) the sensor reads the registry
and, for every live account (registered as an `aircall_accounts` partition, not paused), asks for
the account's previous local day once today's cron time has passed in its timezone, and once that
day's calls are final (the day's end plus the settle margin, ingest/timing.py). The request's run
key is `<account>:<day>`: a sensor's run keys de-duplicate across all its ticks, so whatever the cron
(even every minute) a day is launched once; a rerun is asked for explicitly (UI, `aircall-pipeline
run`). A schedule would not do: its run keys only de-duplicate within one tick.

The settings are read at each tick: when they are unusable, the tick fails with the SettingsError,
which the scheduler-failure alert reports (kind `config`, schedule_failure_sensor.py) rather than start doomed runs.
It is RUNNING on deploy unless AIRCALL_SCHEDULE_DEFAULT_STATUS=stopped.

Backfilling call history: see commands/backfill.py (`aircall-pipeline backfill --account
NAME --from D --to D2`, or the UI's Launch backfill on `aircall_call_history` with one account and a
date range): the calls asset's `BackfillPolicy.multi_run(AIRCALL_BACKFILL_DAYS_PER_RUN)` cuts it
into runs of up to that many days of the one account; they carry a lower `dagster/priority` than
the daily run, so a daily run waits for the chunk in progress at most.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from aircall_pipeline.config.settings import Account, Settings, SettingsError
from aircall_pipeline.ingest.partitions import first_partition, partition_key
from aircall_pipeline.ingest.timing import CALLS_SETTLE
from aircall_pipeline.names import ACCOUNTS_PARTITIONS, DAILY_JOB, SCHEDULER_SENSOR
from aircall_pipeline.operations.dagster_internals import latest_cron_tick
from aircall_pipeline.operations.jobs import run_tags

SCHEDULER_INTERVAL_SECONDS = 60


def due_day(account: Account, now: datetime, first_day: str | None = None) -> str | None:
    """The account's previous local day when it is due at `now` (today's cron time has passed in
    its timezone, and the day's calls are final), else None."""
    tz = ZoneInfo(account.timezone)
    local_now = now.astimezone(tz)
    try:
        fired = latest_cron_tick(account.schedule_cron, now, account.timezone)
    except ValueError as exc:
        # The single account's cron is AIRCALL_SCHEDULE_CRON: name the variable to fix.
        where = f"account {account.key}: schedule_cron" if account.name else "AIRCALL_SCHEDULE_CRON"
        raise SettingsError(f"{where}: {exc}") from None
    if fired.astimezone(tz).date() != local_now.date():
        return None  # today's cron time has not come yet (or the cron does not fire today)
    day = local_now.date() - timedelta(days=1)
    day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    if local_now < day_end + CALLS_SETTLE:
        return None
    if first_day is not None and day < date.fromisoformat(first_day):
        return None
    return day.isoformat()


def run_key(account: Account, day: str) -> str:
    return f"{account.key}:{day}"


def scheduled_requests(settings: Settings, registered: set[str], now: datetime) -> tuple[list[dg.RunRequest], str]:
    """(the run requests of this tick, a one-line status)."""
    requests, paused, waiting = [], 0, 0
    for account in settings.accounts:
        if account.paused:
            paused += 1
            continue
        if account.key not in registered:
            waiting += 1  # the registry sensor adds it on its next tick
            continue
        day = due_day(account, now, first_partition(account, settings, now))
        if day is None:
            continue
        requests.append(dg.RunRequest(run_key=run_key(account, day), partition_key=partition_key(account.key, day),
                                      tags=run_tags(account)))
    status = (f"{len(requests)} account day(s) due; {paused} paused; {waiting} not yet registered "
              f"(of {len(settings.accounts)} accounts)")
    return requests, status


def build_scheduler(*, running: bool = True, minimum_interval_seconds: int = SCHEDULER_INTERVAL_SECONDS,
                    clock: Callable[[], datetime] | None = None) -> dg.SensorDefinition:
    @dg.sensor(
        name=SCHEDULER_SENSOR,
        job_name=DAILY_JOB,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        description="Launches each live account's previous local day once its schedule_cron time has passed "
                    "in its timezone; run key <account>:<day>, so each day is launched once whatever the cron.",
    )
    def _scheduler(context: dg.SensorEvaluationContext):
        from aircall_pipeline.registry import current_settings

        settings = current_settings()  # unusable settings: the tick fails (the scheduler-failure alert)
        now = clock() if clock else datetime.now(UTC)
        registered = set(context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS))
        requests, status = scheduled_requests(settings, registered, now)
        if not requests:
            return dg.SkipReason(status)
        return dg.SensorResult(run_requests=requests)

    return _scheduler
