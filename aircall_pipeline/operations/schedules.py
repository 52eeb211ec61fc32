"""The daily schedule, and the job used to backfill call history.

Daily run: `aircall_daily_evidence_schedule` ticks at AIRCALL_SCHEDULE_CRON (default `15 2 * * *`)
in the partitions' timezone (AIRCALL_TIMEZONE) and asks for the previous *completed* day: the
tick of 2026-03-10 02:15 runs partition 2026-03-09. Its run key is the partition, so a tick that
is retried never starts the same day twice. It is RUNNING on deploy unless
AIRCALL_SCHEDULE_DEFAULT_STATUS=stopped. Runs carry `aircall/account` (the account's name, or for the single
account the API host and AIRCALL_API_ID, which is not secret), the key of the one-run-per-account
limit in dagster.yaml. With an accounts file, each account has its own schedule
(`aircall_daily_evidence_<name>_schedule`) in its own timezone.

Backfilling call history. Only calls can be collected for past days: the snapshot assets (users,
teams, numbers, company) refuse dates they were not taken on (ingest/timing.py), so backfilling the
whole daily job for last year would fail by design. The calls multi-asset (calls + call_windows)
declares `BackfillPolicy.multi_run(AIRCALL_BACKFILL_DAYS_PER_RUN)` (10 days by default), so the
backfill daemon cuts a backfill into runs of up to 10 days; each run fetches and files its days one
by one. The runs queue behind the one-run-per-account limit on `aircall/account` and carry a lower
`dagster/priority` than the daily job (operations/jobs.py), so a daily run waits for the chunk in
progress at most. To launch one:

- UI: Jobs -> aircall_call_history -> Launch backfill -> pick the date range (the daemon must run,
  e.g. under `make dev`). Scripts can do the same with GraphQL `launchPartitionBackfill` (see
  bench/bench_backfill.py).
- `dagster job backfill -m aircall_pipeline.definitions -j aircall_call_history --from 2026-01-01
  --to 2026-01-31 --noprompt` still works, but the CLI submits one run per day itself, bypassing the
  daemon and the BackfillPolicy: the slow path, one run's overhead per day.
- `dg launch --assets aircall/calls --partition-range 2026-01-01...2026-01-31` is refused: ranges in
  one CLI run need `BackfillPolicy.single_run()`, which the calls asset does not declare (a chunk of a
  few days keeps each run bounded and lets the daily run in between chunks).
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from aircall_pipeline.names import ACCOUNT_TAG, SINGLE_ACCOUNT, Names
from aircall_pipeline.settings import Account, Settings, SettingsError


def previous_completed_partition(
    partitions_def: dg.TimeWindowPartitionsDefinition, when: datetime
) -> str | None:
    """The partition of the last window that ended at or before `when` (whatever end_offset says)."""
    current_key = partitions_def.get_partition_key_for_timestamp(when.timestamp())
    current = partitions_def.time_window_for_partition_key(current_key)
    previous_key = partitions_def.get_partition_key_for_timestamp(current.start.timestamp() - 1)
    if partitions_def.time_window_for_partition_key(previous_key).start < partitions_def.start:
        return None  # before the first partition
    return previous_key


def build_evidence_schedule(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    *,
    names: Names = SINGLE_ACCOUNT,
    account: Account | None = None,
    settings: Settings | None = None,
) -> dg.ScheduleDefinition:
    """The account's daily schedule (by default the single account of `settings`, or of the
    environment when the definitions load)."""
    settings = settings or Settings.from_env()
    account = account or settings.account(names.account)
    def _schedule(context: dg.ScheduleEvaluationContext):
        when = context.scheduled_execution_time or datetime.now(UTC)
        key = previous_completed_partition(partitions_def, when)
        if key is None:
            return dg.SkipReason(f"no completed partition before {when.isoformat()} (partitions start "
                                 f"{partitions_def.start.date()})")
        # The settings are read again at each tick: when they are unusable, the tick fails with the
        # SettingsError (the schedule-failure alert says `config`) rather than start a doomed run.
        current = Settings.from_env().account(account.name)
        return dg.RunRequest(run_key=key, partition_key=key, tags={ACCOUNT_TAG: current.label})

    try:
        return dg.schedule(
            name=names.schedule,
            job_name=names.daily_job,
            cron_schedule=account.schedule_cron,
            execution_timezone=partitions_def.timezone,
            default_status=(dg.DefaultScheduleStatus.RUNNING if settings.schedule_running
                            else dg.DefaultScheduleStatus.STOPPED),
            description=f"Collects yesterday's Aircall evidence ({account.schedule_cron}, "
                        f"{partitions_def.timezone}): the previous completed day's partition.",
        )(_schedule)
    except dg.DagsterInvalidDefinitionError:
        raise SettingsError(f"AIRCALL_SCHEDULE_CRON={account.schedule_cron!r} is not a cron expression "
                            "Dagster accepts (five fields, e.g. '15 2 * * *').") from None
