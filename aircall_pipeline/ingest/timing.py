"""When a day may be collected. Pure functions, so the rules are tested without a clock.

- A snapshot (users, teams, numbers, company) records the account as it is *now*. It is valid
  evidence for day D only when taken during D or shortly after (the daily run for D happens early
  on D+1). Asking for an older date is refused: today's data must never be passed off as history.
- A day of calls is fetched only once the day is over plus a settling margin, because Aircall
  rewrites calls after they end (cost, duration, even started_at).
- A day of calls older than the history horizon is refused: Aircall serves about six months of
  calls and answers older windows with an empty list, which would pass for a day without calls.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

SNAPSHOT_GRACE = timedelta(days=1, hours=12)  # a late or retried daily run still counts
# Aircall fires `call.ended` about 30 s after hang-up "once data is complete"
# (https://developer.aircall.io/docs/webhooks-overview), yet Estuary's connector saw calls rewritten
# up to 20 minutes after they ended and re-reads the last 24 h for that reason
# (https://github.com/estuary/connectors, source-aircall-native). 30 minutes leaves a margin over 20.
CALLS_SETTLE = timedelta(minutes=30)


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


def history_start(today: date, history_days: int) -> date:
    """The oldest day whose calls Aircall still serves, `history_days` before `today` (the run's day)."""
    return today - timedelta(days=history_days)


def ensure_within_history(day: date, today: date, history_days: int) -> None:
    """Refuse a call day older than the horizon: the API would answer it with an empty list."""
    first = history_start(today, history_days)
    if day < first:
        raise CollectionTimingError(
            f"Calls for {day} are past the history horizon: Aircall serves about six months of calls and "
            f"answers older days with an empty list, so this pipeline collects the last {history_days} days "
            f"(AIRCALL_HISTORY_DAYS), from {first} on today. Ask for {first} or a later day."
        )
