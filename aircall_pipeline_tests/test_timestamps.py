"""The one ISO-8601 form: UTC with a Z, from datetimes, strings, pandas timestamps and epoch seconds."""

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd

from aircall_pipeline.timestamps import ISO_UTC_FORMAT, iso_utc

EPOCH = 1773112000.0  # 2026-03-10T03:06:40Z


def test_every_input_gives_the_same_z_text():
    expected = "2026-03-10T03:06:40Z"
    paris = timezone(timedelta(hours=1))
    assert iso_utc(EPOCH) == iso_utc(int(EPOCH)) == expected
    assert iso_utc(datetime(2026, 3, 10, 3, 6, 40, tzinfo=UTC)) == expected
    assert iso_utc(datetime(2026, 3, 10, 4, 6, 40, tzinfo=paris)) == expected
    assert iso_utc(datetime(2026, 3, 10, 3, 6, 40)) == expected  # naive: already UTC
    assert iso_utc("2026-03-10T03:06:40+00:00") == iso_utc("2026-03-10T03:06:40Z") == expected
    assert iso_utc(pd.Timestamp("2026-03-10T03:06:40Z")) == expected
    assert datetime.fromtimestamp(EPOCH, UTC).strftime(ISO_UTC_FORMAT) == expected


def test_microseconds_are_kept_unless_seconds_are_asked_for():
    assert iso_utc(EPOCH + 0.25) == "2026-03-10T03:06:40.250000Z"
    assert iso_utc(EPOCH + 0.25, timespec="seconds") == "2026-03-10T03:06:40Z"
