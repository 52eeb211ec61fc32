from datetime import UTC, date, datetime, timedelta

import pytest

from aircall_pipeline.ingest.timing import (
    CALLS_SETTLE,
    CollectionTimingError,
    ensure_day_over,
    ensure_snapshot_allowed,
    ensure_within_history,
    history_start,
)

START = datetime(2026, 11, 26, tzinfo=UTC)
END = START + timedelta(days=1)


def test_snapshot_allowed_during_and_just_after_the_day():
    ensure_snapshot_allowed(START, END, START + timedelta(hours=3), label="users")
    ensure_snapshot_allowed(START, END, END + timedelta(hours=2, minutes=15), label="users")


def test_snapshot_of_an_older_day_is_refused_not_faked():
    with pytest.raises(CollectionTimingError, match="can no longer be taken"):
        ensure_snapshot_allowed(START, END, END + timedelta(days=3), label="users")
    with pytest.raises(CollectionTimingError, match="before that day starts"):
        ensure_snapshot_allowed(START, END, START - timedelta(minutes=1), label="users")


def test_calls_wait_until_the_day_has_settled():
    with pytest.raises(CollectionTimingError, match="not final yet"):
        ensure_day_over(START, END, END + timedelta(minutes=5))
    # Estuary saw calls rewritten up to 20 minutes after they ended: still refused then.
    with pytest.raises(CollectionTimingError, match="not final yet"):
        ensure_day_over(START, END, END + timedelta(minutes=21))
    assert CALLS_SETTLE >= timedelta(minutes=30)
    ensure_day_over(START, END, END + CALLS_SETTLE)
    ensure_day_over(START, END, END + timedelta(days=90))  # backfills of old call days are fine


def test_a_call_day_past_the_history_horizon_is_refused_with_the_horizon():
    today = date(2026, 12, 2)
    assert history_start(today, 180) == date(2026, 6, 5)
    ensure_within_history(date(2026, 6, 5), today, 180)
    with pytest.raises(CollectionTimingError, match=r"last 180 days \(AIRCALL_HISTORY_DAYS\), from 2026-06-05"):
        ensure_within_history(date(2026, 6, 4), today, 180)
