"""RetryPolicy: pure functions, no clock, no server."""

from __future__ import annotations

import random

import pytest

from aircall_pipeline.aircall.retry import RetryPolicy, parse_reset, parse_retry_after

NOW = 1_800_000_000.0  # a fixed "now" in unix seconds


def no_jitter(**kwargs) -> RetryPolicy:
    return RetryPolicy(jitter_fraction=0.0, **kwargs)


def test_defaults_match_the_contract():
    policy = RetryPolicy()
    assert policy.max_rate_limit_wait == 300
    assert policy.max_retries == 5
    assert (policy.backoff_base, policy.backoff_cap) == (1.0, 30.0)
    assert policy.window == 60.0


def test_reset_header_in_seconds():
    wait = no_jitter().wait_after_429({"X-AircallApi-Reset": str(int(NOW) + 41)}, NOW)
    assert wait.seconds == pytest.approx(41)
    assert wait.reset_at == pytest.approx(NOW + 41)
    assert "X-AircallApi-Reset" in wait.reason


def test_reset_header_in_milliseconds_is_recognised():
    wait = no_jitter().wait_after_429({"X-AircallApi-Reset": str(int((NOW + 12.5) * 1000))}, NOW)
    assert wait.seconds == pytest.approx(12.5)


def test_reset_header_is_case_insensitive_on_plain_dicts():
    wait = no_jitter().wait_after_429({"x-aircallapi-reset": str(int(NOW) + 5)}, NOW)
    assert wait.seconds == pytest.approx(5)


@pytest.mark.parametrize(
    "reset, expected",
    [
        (NOW + 3600, 60.0),  # further than a window: clamp to one window
        (NOW + 59, 59.0),
    ],
)
def test_reset_is_clamped_to_the_window(reset, expected):
    assert no_jitter().wait_after_429({"X-AircallApi-Reset": str(int(reset))}, NOW).seconds == pytest.approx(expected)


@pytest.mark.parametrize("headers", [
    {}, {"X-AircallApi-Reset": "soon"}, {"X-AircallApi-Reset": "-4"},
    {"X-AircallApi-Reset": str(int(NOW) - 30)},  # in the past: the block has not necessarily ended
    {"X-AircallApi-Reset": "30"},  # relative seconds, not a time
    {"X-AircallApi-Reset": "30000"},  # relative milliseconds
    {"X-AircallApi-Reset": str(int((NOW - 5) * 1000))},  # a past time in milliseconds
])
def test_absent_past_relative_or_garbled_reset_waits_one_full_window(headers):
    wait = no_jitter(window_seconds=6).wait_after_429(headers, NOW)
    assert wait.seconds == pytest.approx(6)
    assert "full" in wait.reason


def test_retry_after_seconds_and_http_date_are_honoured():
    assert no_jitter().wait_after_429({"Retry-After": "17"}, NOW).seconds == pytest.approx(17)
    http_date = "Fri, 15 Jan 2027 08:00:20 GMT"
    from email.utils import parsedate_to_datetime

    when = parsedate_to_datetime(http_date).timestamp()
    wait = no_jitter().wait_after_429({"Retry-After": http_date}, when - 20)
    assert wait.seconds == pytest.approx(20)


def test_the_later_of_both_headers_wins():
    headers = {"X-AircallApi-Reset": str(int(NOW) + 10), "Retry-After": "25"}
    assert no_jitter().wait_after_429(headers, NOW).seconds == pytest.approx(25)
    headers = {"X-AircallApi-Reset": str(int(NOW) + 30), "Retry-After": "5"}
    assert no_jitter().wait_after_429(headers, NOW).seconds == pytest.approx(30)


def test_jitter_is_added_never_subtracted_and_bounded():
    policy = RetryPolicy(window_seconds=60, jitter_fraction=0.05)
    rng = random.Random(1)
    for _ in range(200):
        wait = policy.wait_after_429({"X-AircallApi-Reset": str(int(NOW) + 10)}, NOW, rng)
        assert 10 <= wait.seconds <= 13
        assert wait.reset_at == pytest.approx(NOW + 10)  # the reset itself carries no jitter


def test_backoff_is_exponential_capped_full_jitter():
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=30.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (12, 30)]:
        samples = [policy.backoff(attempt, rng) for _ in range(300)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # full jitter spans the range
    with pytest.raises(ValueError):
        policy.backoff(0)


def test_should_retry_counts_retries_not_attempts():
    policy = RetryPolicy(max_retries=2)
    assert [policy.should_retry(n) for n in range(4)] == [True, True, False, False]


def test_window_resolution():
    assert RetryPolicy().with_window(6).window == 6
    assert RetryPolicy(window_seconds=60).with_window(6).window == 60  # explicit wins


def test_parsers_reject_nonsense():
    assert parse_reset(None) is None
    assert parse_reset("nan") is None
    assert parse_reset("0") is None
    assert parse_reset("1800000000") == 1_800_000_000
    assert parse_reset("1800000000000") == 1_800_000_000
    assert parse_retry_after("later", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_invalid_policies_are_refused():
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(window_seconds=0)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "Infinity"])
def test_a_non_finite_header_counts_as_missing(value):
    assert parse_retry_after(value, NOW) is None
    assert parse_reset(value) is None
    wait = no_jitter(window_seconds=6).wait_after_429({"Retry-After": value, "X-AircallApi-Reset": value}, NOW)
    assert wait.seconds == pytest.approx(6) and wait.reset_at == pytest.approx(NOW + 6)


def test_a_second_429_in_the_same_window_waits_a_full_window_whatever_the_header():
    headers = {"X-AircallApi-Reset": str(int(NOW) + 5)}
    assert no_jitter().wait_after_429(headers, NOW).seconds == pytest.approx(5)
    again = no_jitter().wait_after_429(headers, NOW, repeated=True)
    assert again.seconds == pytest.approx(60) and "second 429" in again.reason
