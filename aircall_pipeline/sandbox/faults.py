"""Faults and limits the sandbox can be told to produce: what `.control()` and `POST /sandbox/control`
may change while the server runs."""

from __future__ import annotations

from dataclasses import dataclass, fields

# Where a next-page link points when `foreign_next_link` is set: a client must refuse to follow it.
FOREIGN_HOST = "http://evil.example.test"

# How X-AircallApi-Reset is sent: the unit is undocumented, so the sandbox can answer with each form
# a client must survive: a future time in seconds or milliseconds, none at all, a time in the past,
# a relative number of seconds (`30`) and an unreadable value.
RESET_HEADER_UNITS = ("seconds", "milliseconds", "none", "past", "relative", "unreadable")


@dataclass
class FaultSettings:
    """Everything `.control()` may change while the server runs."""

    rate_limit: int = 60
    window_seconds: float = 60
    reset_header: str = "seconds"  # "seconds" | "milliseconds" | "none": the real unit is uncertain
    latency_ms: int = 0
    fail_5xx_next: int = 0
    fail_5xx_rate: float = 0.0
    revoke_after: int | None = None
    malformed_json_next: int = 0
    foreign_next_link: bool = False
    unknown_fields: bool = True
    # Calls the API counts in meta.total but never serves (deleted while paging): AC-14 must fail.
    phantom_calls: int = 0
    # Likewise for /v1/webhooks: a meta.total larger than what is served (clients must stop on a
    # short or empty page rather than ask forever).
    phantom_webhooks: int = 0
    # Calls older than this many days are not served (an empty 200, like the live ~6-month horizon).
    horizon_days: float | None = None
    # Next-page links in the one documented form, `.../v1/calls?page=2&per_page=20`: no filters.
    bare_links: bool = False
    # Added to meta.total on every page after the first (calls made or deleted while paging).
    total_drift: int = 0
    # The next N authenticated requests answer 429 whatever the window holds.
    rate_limit_next: int = 0
    # The first N numbers of the list answer 404 on /v1/numbers/:id (deleted while being read).
    vanish_numbers: int = 0

    def validate(self) -> None:
        if self.rate_limit < 1 or self.window_seconds <= 0:
            raise ValueError("rate_limit must be >= 1 and window_seconds > 0")
        if self.reset_header not in RESET_HEADER_UNITS:
            raise ValueError(f"reset_header must be one of {RESET_HEADER_UNITS}")
        if not 0.0 <= self.fail_5xx_rate <= 1.0:
            raise ValueError("fail_5xx_rate must be between 0 and 1")
        if min(self.latency_ms, self.fail_5xx_next, self.malformed_json_next, self.phantom_webhooks,
               self.rate_limit_next, self.vanish_numbers) < 0:
            raise ValueError("latency_ms, fail_5xx_next, malformed_json_next, phantom_webhooks, rate_limit_next "
                             "and vanish_numbers must be >= 0")
        if self.horizon_days is not None and self.horizon_days <= 0:
            raise ValueError("horizon_days must be > 0 (or null to serve every call)")
        if self.revoke_after is not None and self.revoke_after < 0:
            raise ValueError("revoke_after must be >= 0 (or null to never revoke)")


FAULT_FIELDS = {f.name for f in fields(FaultSettings)}
