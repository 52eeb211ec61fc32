"""How long to wait after a 429, a 5xx, a dropped connection or a truncated body.

Everything here is a pure function of its arguments (the random source is injectable), so the
whole waiting policy is unit-tested without a clock or a server. The client holds exactly one
`RetryPolicy` and never sleeps for any other reason.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC
from email.utils import parsedate_to_datetime

from aircall_pipeline.timestamps import iso_utc

RESET_HEADER = "X-AircallApi-Reset"
RETRY_AFTER_HEADER = "Retry-After"

# X-AircallApi-Reset's unit is undocumented: the reference calls it the time the counter resets
# (https://developer.aircall.io/api-references/, as quoted by https://github.com/w6w-io/w6w-apps,
# apps/aircall/health/quota.ts) and clients read it either way. Unix seconds are about 1.8e9 today
# and unix milliseconds about 1.8e12, so anything above 1e12 is milliseconds.
_MILLISECONDS_THRESHOLD = 1e12


@dataclass(frozen=True)
class RateLimitWait:
    """The decision taken after one 429."""

    seconds: float  # how long to sleep, jitter included
    reset_at: float  # unix seconds at which the server's counter is expected to reset
    reason: str  # e.g. "X-AircallApi-Reset 12:04:00Z", for the log line


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded waiting for 429s, bounded retries for transient failures.

    `window_seconds` is the server's rate-limit window: the upper clamp of a reset header and the
    wait when the header is absent. `None` means "the window of the client's RequestBudget, or 60 s
    without one" (the client resolves it), so a compressed sandbox window needs no second setting.
    """

    max_rate_limit_wait: float = 300.0  # total seconds one request may spend waiting out 429s
    max_retries: int = 5  # retries (after the first attempt) for 5xx, connection errors, timeouts
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    max_malformed_retries: int = 2  # a truncated JSON body is usually transient
    window_seconds: float | None = None
    # Extra wait after a reset, drawn uniformly from [0, jitter_fraction * window]: the processes
    # sharing the account should not all fire at the very millisecond the counter resets, and our
    # clock may lag the API's by a little.
    jitter_fraction: float = 0.05

    def __post_init__(self) -> None:
        if self.max_rate_limit_wait < 0 or self.max_retries < 0 or self.max_malformed_retries < 0:
            raise ValueError("RetryPolicy limits must be >= 0")
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("RetryPolicy backoff must be >= 0")
        if self.window_seconds is not None and self.window_seconds <= 0:
            raise ValueError("RetryPolicy.window_seconds must be > 0")

    @property
    def window(self) -> float:
        return 60.0 if self.window_seconds is None else float(self.window_seconds)

    def with_window(self, window_seconds: float) -> RetryPolicy:
        """This policy with the window filled in, unless it was set explicitly."""
        if self.window_seconds is not None:
            return self
        return replace(self, window_seconds=float(window_seconds))

    # -- transient failures ------------------------------------------------------------------

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based): exponential, capped, full jitter."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return (rng or random).uniform(0.0, ceiling)

    def should_retry(self, attempt: int) -> bool:
        """Whether a transient failure may be retried once more (`attempt` retries already made)."""
        return attempt < self.max_retries

    # -- 429 --------------------------------------------------------------------------------

    def wait_after_429(
        self, headers: Mapping[str, str], now: float, rng: random.Random | None = None, *, repeated: bool = False
    ) -> RateLimitWait:
        """How long to wait after a 429, from `X-AircallApi-Reset` and/or `Retry-After`.

        Aircall documents that exceeding the limit "blocks your access for 60 seconds"
        (https://developer.aircall.io/docs/best-practices), and the reset header's unit is not
        documented. So only a reset that is a future time (unix seconds, or milliseconds when
        implausibly large), at most one window away, shortens the wait; a reset in the past, a
        relative figure such as `30`, or an unreadable value waits one full window: retrying at
        once would only prolong the block. `repeated` (a 429 right after waiting one out) also
        waits a full window. `Retry-After` (seconds or an HTTP date, undocumented by Aircall) is
        honoured when present; with both, the later one wins.
        """
        window = self.window
        full = f"one full {window:g} s window"
        base: float | None
        raw = _header(headers, RESET_HEADER)
        reset = parse_reset(raw)
        if repeated:
            base, reason = window, f"a second 429 in the same window, so {full}"
        elif reset is not None and reset > now:
            base = min(reset - now, window)
            reason = f"{RESET_HEADER} {iso_utc(now + base, timespec='seconds')}"
        elif raw is None:
            base, reason = None, f"no {RESET_HEADER} header, so {full}"
        else:
            shown = str(raw).strip()[:40]
            what = "is in the past or relative" if reset is not None else "is unreadable"
            base, reason = window, f"{RESET_HEADER} {shown!r} {what}, so {full}"

        retry_after = parse_retry_after(_header(headers, RETRY_AFTER_HEADER), now)
        if retry_after is not None:
            retry_after = min(max(retry_after, 0.0), max(window, self.max_rate_limit_wait))
            if base is None or retry_after > base:
                base = retry_after
                reason = f"{RETRY_AFTER_HEADER} {retry_after:g} s"
        if base is None:
            base = window

        jitter = (rng or random).uniform(0.0, self.jitter_fraction * window)
        return RateLimitWait(seconds=base + jitter, reset_at=now + base, reason=reason)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # requests' CaseInsensitiveDict handles case; a plain dict in a unit test may not.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                return candidate
    return value


def parse_reset(value: str | None) -> float | None:
    """`X-AircallApi-Reset` as unix seconds (milliseconds accepted when > 1e12); None if unusable."""
    if value is None:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number <= 0:  # NaN, infinity or nonsense
        return None
    if number > _MILLISECONDS_THRESHOLD:
        number /= 1000.0
    return number


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from `now`: either delta-seconds or an HTTP date; None if unusable."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # float() also reads "nan" and "inf": no wait can be computed from them, so they count as
        # a missing header (sleeping NaN seconds would raise deep inside the client).
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now
