"""The API's quirks a client must survive, each against a sandbox mode over real HTTP: the history
horizon, next-page links without filters, a total that moves while paging, and 429s whose reset
header is in the past, relative, in milliseconds or unreadable."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from aircall_pipeline.aircall import RetryPolicy
from aircall_pipeline.aircall.windows import NOT_COLLECTABLE
from aircall_pipeline.compliance.rules import calls_completeness
from aircall_pipeline.ingest import normalize
from aircall_pipeline.sandbox.data import SandboxAccount

from .conftest import record_urls


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def call_ids(account: SandboxAccount, start: datetime, end: datetime) -> list[int]:
    lo, hi = int(start.timestamp()), int(end.timestamp())
    return [account.call(i)["id"] for i in account.call_range(lo - 1, hi - 1)]


class Waits:
    """The client's sleep, recorded instead of slept: a 60 s block is checked in milliseconds."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


# -- 1. the history horizon -------------------------------------------------------------------


def test_an_empty_answer_past_the_history_is_not_collectable_and_fails_ac14(serve, connect):
    account = SandboxAccount(calls=3000, days=200)
    server = serve(account, horizon_days=100)
    client = connect(server)
    old = account.anchor - timedelta(days=150)
    start, end = day_start(old), day_start(old) + timedelta(days=1)
    assert call_ids(account, start, end), "the sandbox made calls that day: they existed"

    assert list(client.iter_call_pages(start, end)) == []
    [window] = client.call_windows
    assert (window.meta_total, window.fetched, window.status, window.complete) == (0, 0, NOT_COLLECTABLE, False)
    frame = normalize.call_windows_frame(client.call_windows)
    assert frame["status"].tolist() == [NOT_COLLECTABLE] and frame["complete"].tolist() == [False]
    outcome = calls_completeness(frame, period_from=start - timedelta(seconds=1), period_to=end - timedelta(seconds=1))
    assert outcome.status == "fail"
    assert "Not collectable" in outcome.findings["reason"].iloc[0]


def test_a_quiet_day_inside_the_history_is_complete(serve, connect):
    account = SandboxAccount(calls=10, days=3)
    client = connect(serve(account, horizon_days=100))
    start = day_start(account.anchor) + timedelta(days=5)  # after every call: nothing that day
    assert list(client.iter_call_pages(start, start + timedelta(days=1))) == []
    assert [(w.meta_total, w.fetched, w.status) for w in client.call_windows] == [(0, 0, "complete")]


# -- 2. pages built from the client's own parameters ------------------------------------------


def test_links_without_filters_only_mean_there_is_a_next_page(serve, connect):
    account = SandboxAccount(calls=6000, days=10)
    server = serve(account, bare_links=True)
    client = connect(server)
    sent = record_urls(client)
    day = account.anchor - timedelta(days=3)
    start, end = day_start(day), day_start(day) + timedelta(days=1)

    calls = [c["id"] for page in client.iter_call_pages(start, end) for c in page]

    expected = call_ids(account, start, end)
    assert len(expected) > 100, "the day must span several pages"
    assert calls == expected
    [window] = client.call_windows
    assert window.complete and window.meta_total == len(expected)
    from_ts, to_ts = int(start.timestamp()) - 1, int(end.timestamp()) - 1
    queries = [parse_qs(urlsplit(url).query) for url in sent]
    assert [q["page"] for q in queries] == [[str(n)] for n in range(1, len(queries) + 1)]
    for query in queries:
        assert query["from"] == [str(from_ts)] and query["to"] == [str(to_ts)]
        assert query["order"] == ["asc"] and query["per_page"] == ["50"]


def test_a_total_that_moves_after_the_first_page_is_logged_and_counted_not_taken(serve, connect, caplog):
    account = SandboxAccount(calls=6000, days=10)
    client = connect(serve(account, total_drift=7))
    caplog.set_level(logging.WARNING, logger="aircall_pipeline.aircall")
    day = account.anchor - timedelta(days=3)
    start, end = day_start(day), day_start(day) + timedelta(days=1)

    calls = [c["id"] for page in client.iter_call_pages(start, end) for c in page]

    [window] = client.call_windows
    pages = -(-len(calls) // 50)
    assert window.meta_total == len(calls), "the first page's total is the window's"
    assert window.total_changes == pages - 1 > 0
    assert normalize.call_windows_frame(client.call_windows)["total_changes"].tolist() == [pages - 1]
    assert any("the first is kept" in r.getMessage() for r in caplog.records)


# -- 3. blocked means wait --------------------------------------------------------------------


@pytest.mark.parametrize("reset_header", ["past", "relative", "unreadable", "none"])
def test_an_unusable_reset_header_waits_a_whole_window_never_retries_at_once(serve, connect, reset_header, caplog):
    server = serve(rate_limit_next=1, reset_header=reset_header)
    waits = Waits()
    client = connect(server, retry=RetryPolicy(jitter_fraction=0.0), sleep=waits)
    caplog.set_level(logging.WARNING, logger="aircall_pipeline.aircall")

    assert client.ping() == {"ping": "pong"}

    assert waits.seconds == [60.0], "Aircall blocks for 60 s: an immediate retry would only extend the block"
    assert server.stats()["rate_limited"] == 1


def test_a_reset_in_milliseconds_is_waited_until(serve, connect):
    server = serve(rate_limit_next=1, reset_header="milliseconds", window_seconds=60)
    waits = Waits()
    client = connect(server, retry=RetryPolicy(jitter_fraction=0.0), sleep=waits)
    client.ping()
    [wait] = waits.seconds
    rest = 60 - datetime.now(UTC).timestamp() % 60  # the rest of the sandbox's aligned window
    assert 0 < wait <= 60 and wait == pytest.approx(rest, abs=2)


@pytest.mark.parametrize("reset_header", ["seconds", "milliseconds", "relative"])
def test_a_second_429_in_the_same_window_waits_a_full_window(serve, connect, reset_header):
    server = serve(rate_limit_next=2, reset_header=reset_header)
    waits = Waits()
    client = connect(server, retry=RetryPolicy(jitter_fraction=0.0), sleep=waits)

    client.ping()

    assert len(waits.seconds) == 2 and waits.seconds[1] == 60.0
    assert server.stats()["rate_limited"] == 2
