"""The typed errors of the Aircall client.

Their class names are an interface: the failure sensor runs in another process and only sees
class-name strings along the error's cause chain (see operations/failures.py), so renaming one of
these is a breaking change for alerting.
"""

from __future__ import annotations

from collections.abc import Mapping

from aircall_pipeline.timestamps import iso_utc

NEW_KEY_ADVICE = (
    "Create a new API key in the Aircall Dashboard (Integrations & API -> API keys; Admin or Owner "
    "only), then update AIRCALL_API_ID and AIRCALL_API_TOKEN where the pipeline runs."
)
# What to do about an exhausted budget, in every message that reports one (client, `check`, alerts).
RATE_LIMIT_ADVICE = (
    "The API budget is shared with every integration on the account: lower "
    "AIRCALL_RATE_LIMIT_PER_MINUTE, pause the other integrations, or ask Aircall to raise the limit."
)


class AircallError(Exception):
    """Base class. Messages never contain the API token or the Authorization header.

    The facts a caller acts on are attributes, declared here (as stripe-python's `StripeError` does
    with `http_status`, `code` and `should_retry`), never parsed back out of the message:

    - `status`: the HTTP status, or None when no response came back;
    - `endpoint`: the endpoint template (`/v1/numbers/:id`), the key of the request statistics;
    - `retryable`: whether the same request may succeed if sent again (a 5xx, a dropped connection,
      a truncated body, a 429); `AircallClient._get` decides how often;
    - `headers`: the response headers that matter to a retry (a 429's reset headers), else empty.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        endpoint: str | None = None,
        retryable: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint
        if retryable is not None:
            self.retryable = retryable
        self.headers: dict[str, str] = dict(headers or {})


class AircallAuthError(AircallError):
    """401 or 403: the key is missing, wrong or revoked. Never retried."""


class AircallRateLimitError(AircallError):
    """429 beyond the bounded wait: the account's shared API budget stays exhausted.

    `reset_at` (epoch seconds) is when the budget resets, when anyone knows.
    """

    def __init__(self, message: str, *, reset_at: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.reset_at = reset_at

    @property
    def reset_at_iso(self) -> str | None:
        return None if self.reset_at is None else iso_utc(self.reset_at, timespec="seconds")


class AircallServerError(AircallError):
    """5xx, connection errors or timeouts that outlasted the retries.

    `reason`: what the network said when no response came back (e.g. "ConnectionError: Name or
    service not known"), else None. `attempts`: how many times the request was sent before giving up.
    """

    def __init__(self, message: str, *, reason: str | None = None, attempts: int = 1, **kwargs):
        super().__init__(message, **kwargs)
        self.reason = reason
        self.attempts = attempts


class AircallRequestError(AircallError):
    """Another 4xx: the request itself is wrong. Carries the API's error/troubleshoot/message text."""


class AircallResponseError(AircallError):
    """The API answered something unusable: malformed JSON, a missing key, a link to another host."""
