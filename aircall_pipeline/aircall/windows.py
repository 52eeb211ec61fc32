"""Call time windows: how `[start, end)` becomes API queries that never hit the 10,000 cap.

Facts this relies on, probed live by Estuary's connector (https://github.com/estuary/connectors,
source-aircall-native/bruno/Calls/: `from bound probe.yml`, `to bound probe.yml`, `page past cap.yml`);
the 10,000 limit itself is Aircall's (https://support.aircall.io/en-gb/articles/34702023578397):
- `/v1/calls?from=F&to=T` selects `F < started_at <= T` on integer unix seconds, so the windows
  `(a, b]` and `(b, c]` tile time with neither gap nor overlap.
- Any request with `page * per_page > 10,000` is a 400, whatever the total: at 50 per page, never
  ask for page 201. A query therefore only reaches all its rows when `meta.total` fits in 10,000.

A window whose `meta.total` is >= 10,000 is split in halves until each part is below, or down to a
single second (which is then fetched as far as the cap allows and recorded as incomplete).

How a window is counted: by its first page at `per_page=50`. That costs one request, exactly like a
`per_page=1` probe, but when the window needs no split (the common case) the page is kept, so only
windows that get split cost an extra request. On a 60 requests/minute budget a request is a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from aircall_pipeline.timestamps import iso_utc

# The API's positional cap: page * per_page must stay <= this. The one home of the figure: the sandbox
# enforces it and AC-14 judges windows against it.
MAX_RESULTS = 10_000
PER_PAGE = 50  # the API's maximum page size
SPLIT_AT = MAX_RESULTS  # split a window while meta.total >= this (conservative: exactly 10,000 would fit)

T = TypeVar("T")


COMPLETE = "complete"
INCOMPLETE = "incomplete"
NOT_COLLECTABLE = "not collectable"


@dataclass(frozen=True)
class CallWindow:
    """One leaf window as fetched: the evidence that a day's calls are complete."""

    from_ts: int  # exclusive (the API's `from`)
    to_ts: int  # inclusive (the API's `to`)
    meta_total: int  # the API's meta.total for this window: its first page's
    fetched: int  # distinct call ids received for this window
    # False when the API answered an empty list for a window older than every call it still serves:
    # past its history horizon an empty answer says nothing about the calls that were made.
    collectable: bool = True
    total_changes: int = 0  # later pages whose meta.total disagreed with the first page's

    @property
    def complete(self) -> bool:
        return self.collectable and self.fetched == self.meta_total

    @property
    def status(self) -> str:
        if not self.collectable:
            return NOT_COLLECTABLE
        return COMPLETE if self.complete else INCOMPLETE

    @property
    def seconds(self) -> int:
        return self.to_ts - self.from_ts


def page_allowed(page: int, per_page: int = PER_PAGE) -> bool:
    """Whether a request for this page stays within the API's 10,000-result cap."""
    return page >= 1 and per_page >= 1 and page * per_page <= MAX_RESULTS


def max_page(per_page: int = PER_PAGE) -> int:
    return MAX_RESULTS // per_page


def _epoch(dt: datetime, name: str) -> float:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name}={dt!r} has no timezone; pass an aware datetime (UTC)")
    return dt.timestamp()


def api_bounds(start: datetime, end: datetime) -> tuple[int, int]:
    """`[start, end)` -> the API's `(from, to]` on integer seconds.

    started_at is an integer, so `started_at >= start` is `started_at > ceil(start) - 1` and
    `started_at < end` is `started_at <= ceil(end) - 1`. A UTC day D maps to (D - 1, D + 86400 - 1].
    """
    lo, hi = _epoch(start, "start"), _epoch(end, "end")
    if hi < lo:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    return math.ceil(lo) - 1, math.ceil(hi) - 1


def split(from_ts: int, to_ts: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Halve `(from, to]` into `(from, mid]` and `(mid, to]`; the window must span >= 2 seconds."""
    if to_ts - from_ts < 2:
        raise ValueError(f"window ({from_ts}, {to_ts}] is a single second and cannot be split")
    mid = from_ts + (to_ts - from_ts) // 2
    return (from_ts, mid), (mid, to_ts)


def must_split(total: int, from_ts: int, to_ts: int) -> bool:
    return total >= SPLIT_AT and to_ts - from_ts >= 2


@dataclass(frozen=True)
class Leaf(Generic[T]):
    from_ts: int
    to_ts: int
    total: int
    first: T  # whatever the probe returned (the client: its first page)


def walk(from_ts: int, to_ts: int, probe: Callable[[int, int], tuple[int, T]]) -> Iterator[Leaf[T]]:
    """Leaf windows of `(from_ts, to_ts]` in time order, each with a total below the split point.

    `probe(from, to)` returns `(meta.total, first page)`. Windows are explored depth-first, left
    half first, so leaves come out oldest first and at most one path of the tree is pending.
    """
    if to_ts < from_ts:
        raise ValueError(f"window ({from_ts}, {to_ts}] is reversed")
    if to_ts == from_ts:
        return
    pending = [(from_ts, to_ts)]
    while pending:
        lo, hi = pending.pop()
        total, first = probe(lo, hi)
        if must_split(total, lo, hi):
            left, right = split(lo, hi)
            pending.append(right)
            pending.append(left)
            continue
        yield Leaf(lo, hi, total, first)


def describe(from_ts: int, to_ts: int) -> str:
    """`(from, to]` as readable UTC, for log lines."""

    return f"({iso_utc(from_ts, timespec='seconds')}, {iso_utc(to_ts, timespec='seconds')}]"
