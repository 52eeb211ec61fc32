"""Call windows: bounds, halving, the 10,000 cap. Pure functions with a fake probe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from aircall_pipeline.aircall import windows
from aircall_pipeline.aircall.windows import CallWindow, api_bounds, must_split, page_allowed, split, walk

DAY = datetime(2026, 11, 2, tzinfo=UTC)
D = int(DAY.timestamp())


def test_a_utc_day_maps_to_the_api_half_open_window():
    assert api_bounds(DAY, DAY + timedelta(days=1)) == (D - 1, D + 86400 - 1)


def test_fractional_and_offset_datetimes():
    assert api_bounds(DAY + timedelta(seconds=0.5), DAY + timedelta(seconds=10.2)) == (D, D + 10)
    paris = timezone(timedelta(hours=1))
    assert api_bounds(datetime(2026, 11, 2, 1, tzinfo=paris), datetime(2026, 11, 3, 1, tzinfo=paris)) == (
        D - 1,
        D + 86400 - 1,
    )


def test_naive_or_reversed_ranges_are_refused():
    with pytest.raises(ValueError, match="timezone"):
        api_bounds(datetime(2026, 11, 2), DAY)
    with pytest.raises(ValueError, match="before"):
        api_bounds(DAY, DAY - timedelta(seconds=1))


def test_split_tiles_without_gap_or_overlap():
    (a, b), (c, d) = split(10, 21)
    assert (a, d) == (10, 21) and b == c and a < b < d
    with pytest.raises(ValueError):
        split(5, 6)  # a single second


def test_page_cap():
    assert page_allowed(200, 50) and not page_allowed(201, 50)
    assert page_allowed(10_000, 1) and not page_allowed(10_001, 1)
    assert not page_allowed(0)
    assert windows.max_page() == 200


def test_must_split():
    assert must_split(10_000, 0, 2)
    assert not must_split(9_999, 0, 86400)
    assert not must_split(50_000, 0, 1)  # a single second cannot be split


def covering(starts):
    """A probe over a list of started_at values, recording every window it was asked about."""
    asked = []

    def probe(lo, hi):
        asked.append((lo, hi))
        total = sum(1 for s in starts if lo < s <= hi)
        return total, f"page({lo},{hi})"

    return probe, asked


def test_walk_keeps_a_small_window_whole_with_one_probe():
    probe, asked = covering([D + 5, D + 100])
    leaves = list(walk(D - 1, D + 86399, probe))
    assert [(leaf.from_ts, leaf.to_ts, leaf.total) for leaf in leaves] == [(D - 1, D + 86399, 2)]
    assert leaves[0].first == f"page({D - 1},{D + 86399})"
    assert asked == [(D - 1, D + 86399)]


def test_walk_splits_a_busy_day_into_ordered_tiling_leaves_below_the_cap():
    # 25,000 calls crowded into the morning, a few in the afternoon.
    starts = [D + (i % 36000) for i in range(25_000)] + [D + 50_000 + i for i in range(300)]
    probe, asked = covering(starts)
    leaves = list(walk(D - 1, D + 86399, probe))
    assert all(leaf.total < 10_000 for leaf in leaves)
    assert leaves[0].from_ts == D - 1 and leaves[-1].to_ts == D + 86399
    for left, right in zip(leaves, leaves[1:], strict=False):
        assert left.to_ts == right.from_ts  # (a, b], (b, c]: no gap, no overlap
    assert sum(leaf.total for leaf in leaves) == len(starts)
    assert len(asked) == 2 * len(leaves) - 1  # a binary tree: one probe per node


def test_walk_stops_at_one_second():
    starts = [D + 7] * 12_000
    probe, _ = covering(starts)
    leaves = list(walk(D, D + 16, probe))
    assert any(leaf.total == 12_000 and leaf.to_ts - leaf.from_ts == 1 for leaf in leaves)


def test_walk_of_an_empty_range():
    probe, asked = covering([])
    assert list(walk(D, D, probe)) == [] and asked == []


def test_call_window_completeness():
    assert CallWindow(0, 10, meta_total=5, fetched=5).complete
    assert not CallWindow(0, 10, meta_total=5, fetched=4).complete
