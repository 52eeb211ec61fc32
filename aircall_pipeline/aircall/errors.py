"""The typed errors of the Aircall client.

Their class names are an interface: the failure sensor runs in another process and only sees
class-name strings along the error's cause chain (see operations/failures.py), so renaming one of
these is a breaking change for alerting.
"""

from __future__ import annotations

from datetime import UTC, datetime

NEW_KEY_ADVICE = (
    "Create a new API key in the Aircall Dashboard (Integrations & API -> API keys; Admin or Owner "
    "only), then update AIRCALL_API_ID and AIRCALL_API_TOKEN where the pipeline runs."
)


class AircallError(Exception):
    """Base class. Messages never contain the API token or the Authorization header."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str | None = None):
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


class AircallAuthError(AircallError):
    """401 or 403: the key is missing, wrong or revoked. Never retried."""


class AircallRateLimitError(AircallError):
    """429 beyond the bounded wait: the account's shared API budget stays exhausted."""

    def __init__(self, message: str, *, reset_at: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.reset_at = reset_at

    @property
    def reset_at_iso(self) -> str | None:
        if self.reset_at is None:
            return None
        return datetime.fromtimestamp(self.reset_at, UTC).isoformat(timespec="seconds")


class AircallServerError(AircallError):
    """5xx, connection errors or timeouts that outlasted the retries."""


class AircallRequestError(AircallError):
    """Another 4xx: the request itself is wrong. Carries the API's error/troubleshoot/message text."""


class AircallResponseError(AircallError):
    """The API answered something unusable: malformed JSON, a missing key, a link to another host."""
