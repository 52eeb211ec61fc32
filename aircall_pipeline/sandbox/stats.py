"""What the sandbox counts about the requests it answers, for tests and benchmarks to read back."""

from __future__ import annotations

from collections import Counter
from typing import Any


class RequestStats:
    """Request statistics; the server guards them with its lock."""

    def __init__(self) -> None:
        self.requests = 0
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.rate_limited = 0
        self.duplicates = 0
        self.errors_injected = 0
        self.max_in_window = 0
        # Requests admitted in each of the company's fixed windows (window start, unix seconds): how
        # full the budget really was, measured on the server's clock rather than the client's.
        self.by_window: Counter[float] = Counter()
        # When the first and the last request were admitted (unix seconds): the span the API was busy,
        # to tell a client's pacing from the time spent around it (benchmarks).
        self.first_admitted_at: float | None = None
        self.last_admitted_at: float | None = None
        self.answered: set[str] = set()

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_endpoint": dict(self.by_endpoint),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "rate_limited": self.rate_limited,
            "duplicates": self.duplicates,
            "max_in_window": self.max_in_window,
            "by_window": {str(float(start)): n for start, n in sorted(self.by_window.items())},
            "first_admitted_at": self.first_admitted_at,
            "last_admitted_at": self.last_admitted_at,
            "errors_injected": self.errors_injected,
        }
