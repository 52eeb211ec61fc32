from datetime import UTC, datetime, timedelta

import pytest

from aircall_pipeline.ingest.timing import CollectionTimingError, ensure_day_over, ensure_snapshot_allowed

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
    ensure_day_over(START, END, END + timedelta(minutes=16))
    ensure_day_over(START, END, END + timedelta(days=90))  # backfills of old call days are fine
