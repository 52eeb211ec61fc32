"""When a day may be collected. Pure functions, so the rules are tested without a clock.

- A snapshot (users, teams, numbers, company) records the account as it is *now*. It is valid
  evidence for day D only when taken during D or shortly after (the daily run for D happens early
  on D+1). Asking for an older date is refused: today's data must never be passed off as history.
- A day of calls is fetched only once the day is over plus a settling margin, because Aircall
  rewrites calls for a few minutes after they end (cost, duration, even started_at).
"""

from __future__ import annotations

from datetime import datetime, timedelta

SNAPSHOT_GRACE = timedelta(days=1, hours=12)  # a late or retried daily run still counts
CALLS_SETTLE = timedelta(minutes=15)


class CollectionTimingError(ValueError):
    """The requested day cannot be collected now; the message says why and what to do instead."""


def ensure_snapshot_allowed(day_start: datetime, day_end: datetime, now: datetime, *, label: str) -> None:
    if now < day_start:
        raise CollectionTimingError(f"The {label} snapshot for {day_start.date()} cannot be taken before that day starts.")
    if now > day_end + SNAPSHOT_GRACE:
        raise CollectionTimingError(
            f"The {label} snapshot for {day_start.date()} can no longer be taken: a snapshot records the account "
            f"as it is now ({now:%Y-%m-%d %H:%M} UTC), and using it as evidence for an earlier day would be false. "
            "Snapshots exist only for the days they were taken on; backfill call history with the calls asset alone."
        )


def ensure_day_over(day_start: datetime, day_end: datetime, now: datetime) -> None:
    ready = day_end + CALLS_SETTLE
    if now < ready:
        raise CollectionTimingError(
            f"Calls for {day_start.date()} are not final yet: Aircall keeps updating calls for a few minutes after "
            f"they end. The day can be fetched from {ready:%Y-%m-%d %H:%M %Z} on."
        )
