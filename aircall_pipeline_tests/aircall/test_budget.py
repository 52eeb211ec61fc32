"""RequestBudget in one process: capacity, the shared pause note, URLs. (Across processes: test_limiter_processes.py.)

No timed assertions: each test uses a window long enough that capacity is a count, not a race.
"""

from __future__ import annotations

import time

import pytest

from aircall_pipeline.aircall.budget import (
    BudgetTimeout,
    MemoryBudget,
    RedisBudget,
    RequestBudget,
    SQLiteBudget,
    default_margin_ms,
    redact_url,
    sqlite_path,
)


def fill(budget: RequestBudget, n: int) -> None:
    for _ in range(n):
        budget.acquire(timeout=5)


def budget_urls(tmp_path, redis_url=None):
    urls = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path}/limiter/aircall.sqlite"}
    if redis_url:
        urls["redis"] = redis_url
    return urls


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_capacity_is_per_minute_requests_per_window(kind, tmp_path, budgets):
    budget = budgets(budget_urls(tmp_path)[kind], per_minute=5, window_seconds=60)
    fill(budget, 5)
    with pytest.raises(BudgetTimeout, match="stayed exhausted"):
        budget.acquire(timeout=0.05)


def test_sqlite_creates_parent_directories_and_is_shared_by_instances(tmp_path, budgets):
    url = f"sqlite:///{tmp_path}/a/b/c/limiter.sqlite"
    first = budgets(url, per_minute=4, window_seconds=60)
    second = budgets(url, per_minute=4, window_seconds=60)
    assert isinstance(first, SQLiteBudget) and (tmp_path / "a/b/c/limiter.sqlite").exists()
    fill(first, 3)
    fill(second, 1)
    with pytest.raises(BudgetTimeout):
        second.acquire(timeout=0.05)
    with pytest.raises(BudgetTimeout):
        first.acquire(timeout=0.05)


def test_budgets_with_different_names_do_not_share(tmp_path, budgets):
    url = f"sqlite:///{tmp_path}/limiter.sqlite"
    fill(budgets(url, per_minute=2, window_seconds=60, name="account_a"), 2)
    fill(budgets(url, per_minute=2, window_seconds=60, name="account_b"), 2)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_pause_note_blocks_every_sharer_and_only_moves_forward(kind, tmp_path, budgets):
    url = budget_urls(tmp_path)[kind]
    first = budgets(url, per_minute=100, window_seconds=60)
    second = first if kind == "memory" else budgets(url, per_minute=100, window_seconds=60)
    assert second.paused_until() is None
    until = time.time() + 30
    first.pause_until(until, "429 on /v1/calls")
    first.pause_until(until - 20, "an earlier reset must not shorten the pause")
    assert second.paused_until() == pytest.approx(until)
    with pytest.raises(BudgetTimeout):
        second.acquire(timeout=0.05)


def test_an_expired_pause_is_ignored(tmp_path, budgets):
    budget = budgets(f"sqlite:///{tmp_path}/l.sqlite", per_minute=10, window_seconds=60)
    budget.pause_until(time.time() - 1)
    assert budget.paused_until() is None
    budget.acquire(timeout=1)


def test_redis_budget_is_shared_and_uses_the_servers_clock(redis_server, budgets):
    url = redis_server.url(3)
    redis_server.client(3).flushdb()
    first = budgets(url, per_minute=3, window_seconds=60)
    second = budgets(url, per_minute=3, window_seconds=60)
    assert isinstance(first, RedisBudget)
    fill(first, 2)
    fill(second, 1)
    with pytest.raises(BudgetTimeout):
        first.acquire(timeout=0.05)
    seconds, _ = redis_server.client().time()
    assert abs(first._now_ms() / 1000 - seconds) < 5
    first.pause_until(time.time() + 30)
    assert second.paused_until() is not None


def test_margin_and_rates():
    assert default_margin_ms(60) == 600
    assert default_margin_ms(6) == 200
    budget = RequestBudget.from_url("memory://", per_minute=60, window_seconds=6)
    assert isinstance(budget, MemoryBudget)
    assert budget.margin_ms == 200
    assert "60 requests per 6 s" in repr(budget)
    smooth, window = RequestBudget.rates(60, 6, 250)
    assert (window.limit, window.interval) == (60, 6250)
    assert (smooth.limit, smooth.interval) == (10, 1041)  # a sixth of the window, never sparser
    assert RequestBudget.rates(60, 60, 600)[0].interval == 10100
    assert len(RequestBudget.rates(5, 60, 600)) == 1  # nothing to smooth


def test_requests_are_spread_over_the_window_not_burst(tmp_path, budgets):
    budget = budgets(f"sqlite:///{tmp_path}/l.sqlite", per_minute=60, window_seconds=60)
    fill(budget, 10)
    with pytest.raises(BudgetTimeout):  # the first sixth of the window is used up
        budget.acquire(timeout=0.05)


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgres://x", "not supported"),
        ("/just/a/path", "not supported"),
        ("sqlite:///", "needs a file path"),
    ],
)
def test_bad_urls_are_refused_clearly(url, message):
    with pytest.raises(ValueError, match=message):
        RequestBudget.from_url(url)


def test_bad_numbers_and_names_are_refused():
    with pytest.raises(ValueError):
        RequestBudget.from_url("memory://", per_minute=0)
    with pytest.raises(ValueError):
        RequestBudget.from_url("memory://", window_seconds=0)
    with pytest.raises(ValueError):
        RequestBudget.from_url("memory://", name="drop table; --")


def test_sqlite_path_reading():
    assert str(sqlite_path("sqlite:////var/lib/x.sqlite")) == "/var/lib/x.sqlite"
    assert str(sqlite_path("sqlite:///rel/x.sqlite")) == "rel/x.sqlite"


@pytest.mark.parametrize("url, shown", [
    ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
    ("redis://app:s3cret@redis:6379/0", "redis://app:***@redis:6379/0"),
    ("rediss://redis:6380/0?password=s3cret&ssl_cert_reqs=none", "rediss://redis:6380/0?password=***&ssl_cert_reqs=none"),
    ("unix:///run/redis.sock?db=0&Password=s3cret", "unix:///run/redis.sock?db=0&Password=***"),
    ("redis://redis:6379/0", "redis://redis:6379/0"),
    ("sqlite:////var/lib/dagster/limiter.sqlite", "sqlite:////var/lib/dagster/limiter.sqlite"),
])
def test_redact_url_hides_every_password(url, shown):
    assert redact_url(url) == shown
