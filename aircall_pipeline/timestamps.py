"""Timestamps as text: the one ISO-8601 form used everywhere (evidence, alerts, messages, logs).

UTC, with a `Z` (never `+00:00`), e.g. `2026-03-10T03:06:40Z`. Plain Python, no dependencies, so the
client, the evidence store and the alerts can all use it.
"""

from __future__ import annotations

from datetime import UTC, datetime

# The same form for vectorised use (`Series.dt.strftime`), whole seconds.
ISO_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso_utc(value: datetime | str | float | int, *, timespec: str = "auto") -> str:
    """`value` (a datetime, an ISO string or epoch seconds) as ISO-8601 UTC with a `Z`.

    Naive datetimes are taken to be UTC already. `timespec="auto"` keeps microseconds when there are
    any (the manifest records times exactly); `"seconds"` drops them (messages for people).
    """
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if timespec == "auto":
        timespec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=timespec).replace("+00:00", "Z")
