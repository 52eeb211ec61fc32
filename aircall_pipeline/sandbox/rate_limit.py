"""The 429 the sandbox answers once a company's fixed window is full.

The X-AircallApi-Limit/-Remaining/-Reset headers are documented as sent "when the rate limit has been
reached" (https://developer.aircall.io/api-references/, quoted by
https://github.com/w6w-io/w6w-apps, apps/aircall/health/quota.ts), and Estuary saw none on ordinary
responses (https://github.com/estuary/connectors, source-aircall-native/bruno/_top-level/ping.yml),
so only the 429 carries them. Neither the body nor a Retry-After header has been observed.
"""

from __future__ import annotations

from typing import Any

from aircall_pipeline.sandbox.faults import FaultSettings


def too_many_requests(settings: FaultSettings, window: int, now: float) -> tuple[dict[str, Any], dict[str, str]]:
    """The body and headers of a 429 in fixed window number `window` (of `settings.window_seconds`)."""
    reset_at = (window + 1) * settings.window_seconds
    headers = {"X-AircallApi-Limit": str(settings.rate_limit), "X-AircallApi-Remaining": "0"}
    if settings.reset_header == "seconds":
        headers["X-AircallApi-Reset"] = str(int(-(-reset_at // 1)))
    elif settings.reset_header == "milliseconds":
        headers["X-AircallApi-Reset"] = str(int(reset_at * 1000))
    elif settings.reset_header == "past":
        headers["X-AircallApi-Reset"] = str(int(now) - 5)
    elif settings.reset_header == "relative":
        headers["X-AircallApi-Reset"] = str(max(1, int(reset_at - now)))
    elif settings.reset_header == "unreadable":
        headers["X-AircallApi-Reset"] = "in a minute"
    # The live 429 body is unobserved; this follows the documented {error, troubleshoot} shape.
    body = {
        "error": "Too Many Requests",
        "troubleshoot": (
            f"Rate limit of {settings.rate_limit} requests per {settings.window_seconds:g} seconds reached "
            "for this company. Retry after the time in X-AircallApi-Reset."
        ),
    }
    return body, headers
