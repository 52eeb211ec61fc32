"""RequestBudget: the one rate limiter shared by every process that talks to the Aircall account.

Aircall's limit is per company: every key, integration, Dagster step and run on the account draws
from the same counter. So the limiter's state lives outside the process:

- `sqlite:///path`  one host, many processes (pyrate-limiter's SQLiteBucket with its file lock),
- `redis://...`     many hosts or pods (pyrate-limiter's RedisBucket, serialised by a Redis lock),
- `memory://`       one process; tests only.

Design notes (measured figures are in bench/RESULTS.md):

1. Sliding window, not fixed. Aircall (and the sandbox) count requests in fixed windows aligned to
   *their* clock, which we cannot see. A sliding-window log admitting L requests in any interval
   of length W also admits at most L in every fixed window of length W, whatever its alignment.
   A local fixed window would let up to 2L through across a misaligned boundary.

2. A safety margin. The limiter stamps a request when it admits it; the server counts it when it
   arrives. Request i and request i+L are stamped more than W apart, but if i arrives late and i+L
   arrives early they can land in the same server window. Stretching the limiter's interval to
   W + margin keeps the server's count within L as long as the spread of admit-to-arrival delays
   stays below the margin. Default margin: max(200 ms, 1% of the window) - 0.6 s on the real 60 s
   window (1% of the throughput), 200 ms on a 6 s benchmark window. On loopback, with four processes
   and the server on two shared, busy cores, admission-to-response took p99 15-125 ms, max 185 ms
   (bench/RESULTS.md); the part before the request reaches the server is smaller still.

3. Our own acquire loop. pyrate's `Limiter.try_acquire(blocking=True)` re-stamps a waiting item
   with `timestamp += sleep_ms` rather than the current time, so under contention (time spent
   waiting for the file lock, sleep overshoot on a busy host) the stored stamps fall behind the
   real admit times and the window frees early. We drive the bucket directly instead: take the
   cross-process lock, read the clock, `bucket.put()`, release; on refusal sleep for
   `bucket.waiting()` and try again with a fresh stamp.

4. A shared "back off until T" note. When any process gets a 429 it calls `pause_until(T)`; every
   `acquire()` on the same budget, in any process, first waits until T. It is stored next to the
   bucket (a one-row table in the same SQLite file, a key in Redis) and only ever moves forward.

5. Smoothing. Besides "L per window", a second rate allows ceil(L/6) per sixth of the window (10 per
   ~10 s on the real budget). Long-run throughput is unchanged, but requests are spread instead of
   fired in bursts of L at each window start: kinder to the API, safer should Aircall's limiter be a
   leaky bucket with a small burst (DataGrail describes it so), and each of the server's fixed
   windows then receives a steady W / (W + margin) of its capacity instead of all or nothing.

6. Clocks. SQLite processes share the host clock. Redis buckets may be used from several hosts
   whose clocks differ, so stamps and pause times come from Redis' own TIME.
"""

from __future__ import annotations

import math
import random
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from urllib.parse import urlsplit

from pyrate_limiter import Duration, InMemoryBucket, Rate, RedisBucket, SQLiteBucket
from pyrate_limiter.abstracts import AbstractBucket, RateItem

import aircall_pipeline.redaction as redaction

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_LEAK_EVERY = 64  # admissions between clean-ups of expired stamps
SMOOTHING_PARTS = 6  # at most 1/6 of the window's requests in any 1/6 of the window


class BudgetTimeout(TimeoutError):
    """`acquire(timeout=...)` gave up: the shared budget stayed exhausted by other processes."""


def default_margin_ms(window_seconds: float) -> int:
    return max(200, round(window_seconds * 1000 * 0.01))


class RequestBudget(ABC):
    """At most `per_minute` requests in any `window_seconds` (+ margin), across every sharer."""

    scheme: str = ""

    def __init__(
        self,
        bucket: AbstractBucket,
        *,
        per_minute: int,
        window_seconds: float,
        name: str,
        margin_ms: int,
    ):
        self._bucket = bucket
        self.per_minute = per_minute
        self.window_seconds = float(window_seconds)
        self.name = name
        self.margin_ms = margin_ms
        self._thread_lock = threading.Lock()
        self._admitted = 0
        self._rng = random.Random()
        self.waited_seconds = 0.0  # time this process spent blocked in acquire(), for stats
        self.paused_seconds = 0.0  # the part of it spent honouring a shared 429 pause

    # -- construction -----------------------------------------------------------------------

    @staticmethod
    def rates(per_minute: int, window_seconds: float, margin_ms: int) -> list[Rate]:
        """The window's rate, plus a smoothing rate over a sixth of it (see the module docstring)."""
        interval_ms = round(window_seconds * Duration.SECOND) + margin_ms
        rates = [Rate(per_minute, interval_ms)]
        if per_minute > SMOOTHING_PARTS:
            # Rounded down, so its density is never below the window rate's (pyrate requires the
            # longer interval to be the sparser one); the window rate stays the binding one.
            part = interval_ms // SMOOTHING_PARTS
            rates.insert(0, Rate(math.ceil(per_minute / SMOOTHING_PARTS), part))
        return rates

    @classmethod
    def from_url(
        cls,
        limiter_url: str,
        per_minute: int = 60,
        window_seconds: float = 60,
        name: str = "aircall",
        *,
        margin_ms: int | None = None,
    ) -> RequestBudget:
        """`sqlite:///path`, `redis://host:port/db` (also `rediss://`) or `memory://`.

        `per_minute` is the number of requests per `window_seconds`: users set a per-minute budget
        (window 60); benchmarks and tests compress time by shrinking the window.
        """
        if per_minute < 1:
            raise ValueError(f"per_minute={per_minute}: the budget must allow at least one request")
        if window_seconds <= 0:
            raise ValueError(f"window_seconds={window_seconds} must be > 0")
        if not _NAME_RE.match(name):
            raise ValueError(f"budget name {name!r} must be a short identifier ([A-Za-z_][A-Za-z0-9_]*)")
        margin = default_margin_ms(window_seconds) if margin_ms is None else int(margin_ms)
        if margin < 0:
            raise ValueError("margin_ms must be >= 0")
        scheme = urlsplit(limiter_url).scheme.lower()
        kwargs = dict(per_minute=per_minute, window_seconds=window_seconds, name=name, margin_ms=margin)
        if scheme == "sqlite":
            return SQLiteBudget(limiter_url, **kwargs)
        if scheme in ("redis", "rediss", "unix"):
            return RedisBudget(limiter_url, **kwargs)
        if scheme == "memory":
            return MemoryBudget(**kwargs)
        raise ValueError(
            f"AIRCALL_LIMITER_URL scheme {scheme or '(none)'!r} is not supported; use sqlite:///path "
            "(one host), redis://host:port/0 (several hosts) or memory:// (tests)"
        )

    # -- backend hooks ----------------------------------------------------------------------

    @abstractmethod
    def _shared_lock(self) -> AbstractContextManager:
        """The lock every sharer takes around read-clock + put (cross-process where it matters)."""

    @abstractmethod
    def _now_ms(self) -> int:
        """The clock the stamps are taken from (shared by every sharer)."""

    @abstractmethod
    def _read_pause(self) -> float:
        """Unix seconds until which every sharer must hold back (0 when none)."""

    @abstractmethod
    def _write_pause(self, until: float, reason: str) -> None:
        """Store `until` if it is later than the current note (called under the shared lock)."""

    def _backend_close(self) -> None:  # noqa: B027 - optional hook
        pass

    # -- public API -------------------------------------------------------------------------

    @property
    def per_window_description(self) -> str:
        return f"{self.per_minute} requests per {self.window_seconds:g} s"

    def acquire(self, timeout: float | None = None) -> None:
        """Block until one more request may go out. Raises BudgetTimeout after `timeout` seconds."""
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        while True:
            with self._thread_lock, self._shared_lock():
                now_ms = self._now_ms()
                pause = self._read_pause()
                if pause * 1000 > now_ms:
                    delay = pause - now_ms / 1000
                    # Staggered restart: the sharers should not all fire at the reset instant.
                    delay += self._rng.uniform(0.0, min(0.25, 0.05 * self.window_seconds))
                    paused = True
                else:
                    paused = False
                    item = RateItem(self.name, now_ms, weight=1)
                    if self._bucket.put(item):
                        self._admitted += 1
                        if self._admitted % _LEAK_EVERY == 0:
                            self._bucket.leak(now_ms)
                        self.waited_seconds += time.monotonic() - started
                        return
                    wait_ms = self._bucket.waiting(item)
                    if wait_ms < 0:  # cannot happen with weight 1 and limit >= 1
                        raise RuntimeError("the request budget can never admit a request")
                    # A few ms of spread so sharers woken by the same expiry do not collide.
                    delay = (wait_ms + 1 + self._rng.uniform(0, 5)) / 1000
            if deadline is not None and time.monotonic() + delay > deadline:
                remaining = max(0.0, deadline - time.monotonic())
                time.sleep(remaining)
                if time.monotonic() >= deadline:
                    raise BudgetTimeout(
                        f"the shared request budget ({self.per_window_description}) stayed exhausted for "
                        f"{timeout:g} s: other processes on this account are using it"
                    )
                continue
            time.sleep(delay)
            if paused:
                self.paused_seconds += delay

    def pause_until(self, until: float, reason: str = "") -> None:
        """Ask every sharer to send nothing before unix time `until` (a 429's reset)."""
        if not math.isfinite(until):
            raise ValueError(f"pause_until needs a finite unix time, got {until!r}")
        with self._thread_lock, self._shared_lock():
            self._write_pause(float(until), reason)

    def paused_until(self) -> float | None:
        """The shared pause note if it is still in the future, else None."""
        with self._thread_lock, self._shared_lock():
            pause = self._read_pause()
            return pause if pause * 1000 > self._now_ms() else None

    def close(self) -> None:
        with self._thread_lock:
            try:
                self._bucket.close()
            finally:
                self._backend_close()

    def __enter__(self) -> RequestBudget:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, {self.per_window_description}, "
            f"margin={self.margin_ms} ms, where={self.where})"
        )

    @property
    def where(self) -> str:
        return self.scheme + "://"


class MemoryBudget(RequestBudget):
    """One process only: for tests and single-process tools."""

    scheme = "memory"

    def __init__(self, **kwargs):
        rates = self.rates(kwargs["per_minute"], kwargs["window_seconds"], kwargs["margin_ms"])
        super().__init__(InMemoryBucket(rates), **kwargs)
        self._pause = 0.0

    def _shared_lock(self):
        return nullcontext()

    def _now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def _read_pause(self) -> float:
        return self._pause

    def _write_pause(self, until: float, reason: str) -> None:
        self._pause = max(self._pause, until)


class SQLiteBudget(RequestBudget):
    """Many processes on one host: a SQLite file plus its file lock (pyrate's multi-process mode)."""

    scheme = "sqlite"

    def __init__(self, limiter_url: str, **kwargs):
        path = sqlite_path(limiter_url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the limiter directory {path.parent}: {exc.strerror}") from exc
        self.path = path
        name = kwargs["name"]
        rates = self.rates(kwargs["per_minute"], kwargs["window_seconds"], kwargs["margin_ms"])
        try:
            bucket = SQLiteBucket.init_from_file(
                rates, table=f"{name}_requests", db_path=str(path), use_file_lock=True
            )
        except sqlite3.Error as exc:
            raise ValueError(f"cannot open the limiter database {path}: {exc}") from exc
        # filelock polls a contended lock every 50 ms by default; a waiter would then be admitted
        # (and stamped) up to 50 ms after its slot freed. The lock is held for about a millisecond.
        if hasattr(bucket.lock, "poll_interval"):
            bucket.lock.poll_interval = 0.005
        super().__init__(bucket, **kwargs)
        self._pause_table = f"{name}_pause"
        with self._shared_lock():
            bucket.conn.execute(
                f"CREATE TABLE IF NOT EXISTS '{self._pause_table}' "
                "(id INTEGER PRIMARY KEY CHECK (id = 1), until REAL NOT NULL, reason TEXT)"
            ).close()
            bucket.conn.commit()

    @property
    def where(self) -> str:
        return f"sqlite:///{self.path}"

    def _shared_lock(self):
        # The bucket's FileLock (reentrant), which SQLiteBucket.put also takes.
        return self._bucket.lock

    def _now_ms(self) -> int:
        return self._bucket.now()

    def _read_pause(self) -> float:
        row = self._bucket.conn.execute(f"SELECT until FROM '{self._pause_table}' WHERE id = 1").fetchone()
        return float(row[0]) if row else 0.0

    def _write_pause(self, until: float, reason: str) -> None:
        conn = self._bucket.conn
        conn.execute(
            f"INSERT INTO '{self._pause_table}' (id, until, reason) VALUES (1, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET until = excluded.until, reason = excluded.reason "
            "WHERE excluded.until > until",
            (until, reason[:500]),
        ).close()
        conn.commit()


class RedisBudget(RequestBudget):
    """Many hosts: pyrate's RedisBucket; stamps from Redis TIME; a Redis lock around check-and-put."""

    scheme = "redis"

    def __init__(self, limiter_url: str, **kwargs):
        import redis

        self._redis = redis.Redis.from_url(limiter_url, socket_timeout=10, socket_connect_timeout=5)
        name = kwargs["name"]
        rates = self.rates(kwargs["per_minute"], kwargs["window_seconds"], kwargs["margin_ms"])
        key = f"aircall_pipeline:{name}"
        try:
            bucket = RedisBucket.init(rates, self._redis, f"{key}:requests")
        except redis.RedisError as exc:
            raise ValueError(f"cannot reach the limiter's Redis at {redact_url(limiter_url)}: {exc}") from exc
        super().__init__(bucket, **kwargs)
        self._url = redact_url(limiter_url)
        self._pause_key = f"{key}:pause"
        # pyrate's Lua script checks and inserts atomically, but the stamp is taken before the
        # script runs: without a lock, two processes could stamp t1 < t2, insert t2 first, and
        # each count a window that misses the other's entry. The lock closes that gap.
        self._lock = self._redis.lock(f"{key}:lock", timeout=10, blocking_timeout=30, thread_local=False)

    @property
    def where(self) -> str:
        return self._url

    def _shared_lock(self):
        return self._lock

    def _now_ms(self) -> int:
        seconds, micros = self._redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def _read_pause(self) -> float:
        value = self._redis.get(self._pause_key)
        return float(value) if value else 0.0

    def _write_pause(self, until: float, reason: str) -> None:
        if until <= self._read_pause():
            return
        ttl_ms = max(1, int((until - self._now_ms() / 1000) * 1000) + 1000)
        self._redis.set(self._pause_key, repr(until), px=ttl_ms)

    def _backend_close(self) -> None:
        self._redis.close()


def sqlite_path(limiter_url: str) -> Path:
    """`sqlite:////abs/path` -> /abs/path and `sqlite:///rel/path` -> rel/path (SQLAlchemy's reading)."""
    if not limiter_url.lower().startswith("sqlite:///"):
        raise ValueError(f"{limiter_url!r} is not a sqlite:///path URL")
    rest = limiter_url[len("sqlite:///") :]
    if not rest or rest.endswith("/"):
        raise ValueError(f"{limiter_url!r} needs a file path, e.g. sqlite:////var/lib/dagster/aircall.sqlite")
    return Path(rest)


def redact_url(url: str) -> str:
    """A limiter URL fit to be shown: the password of `redis://user:password@host` and the value of
    `?password=` (redis-py reads both) become `***`. Returns `url` itself when it holds no secret."""
    return redaction.redact_url(url, userinfo="mask_password", query="mask_secrets", fragment=True)
