"""Request statistics of an AircallClient: per endpoint template ("/v1/numbers/:id"), the requests
sent, the 429s received and the retries, for the run's metadata and the evidence manifest."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


@dataclass
class EndpointStats:
    requests: int = 0  # HTTP requests sent, retries included
    rate_limited: int = 0  # 429s received
    retries: int = 0  # requests repeated after a 429, 5xx, network error or malformed body


class RequestStats:
    """Per-endpoint counters keyed by path template ("/v1/calls", "/v1/numbers/:id")."""

    FIELDS = ("requests", "rate_limited", "retries")

    def __init__(self) -> None:
        self._by_endpoint: dict[str, EndpointStats] = {}
        self._lock = threading.Lock()

    def add(self, endpoint: str, field: str, n: int = 1) -> None:
        with self._lock:
            stats = self._by_endpoint.setdefault(endpoint, EndpointStats())
            setattr(stats, field, getattr(stats, field) + n)

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                endpoint: {field: getattr(stats, field) for field in self.FIELDS}
                for endpoint, stats in sorted(self._by_endpoint.items())
            }

    def totals(self) -> dict[str, int]:
        totals = dict.fromkeys(self.FIELDS, 0)
        for counts in self.as_dict().values():
            for field, value in counts.items():
                totals[field] += value
        return totals

    def __repr__(self) -> str:
        return f"RequestStats({self.totals()})"


def endpoint_template(path: str) -> str:
    """"/v1/numbers/123" -> "/v1/numbers/:id" (the key of the request statistics)."""
    return _ID_SEGMENT.sub("/:id", urlsplit(path).path.rstrip("/") or "/")
