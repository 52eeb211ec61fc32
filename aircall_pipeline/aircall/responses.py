"""What Aircall's answers mean: `interpret()`, the one place an HTTP status becomes a payload or a
typed `AircallError`, and the checks on a payload's shape (its record list, its object, its
`meta.total`). Messages quote at most a short excerpt of a body and never a request header."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import requests

from aircall_pipeline.aircall.errors import (
    NEW_KEY_ADVICE,
    AircallAuthError,
    AircallRateLimitError,
    AircallRequestError,
    AircallResponseError,
    AircallServerError,
)

SHARED_BUDGET_HINT = "the budget is shared with every integration on the account"
_BODY_EXCERPT = 300


def interpret(response: requests.Response, endpoint: str) -> dict[str, Any]:
    """A response -> its JSON object, or the typed error it means.

    Retryable outcomes are raised with `retryable=True` (5xx, malformed JSON, 429) and a 429 carries
    the response headers in `headers`; `AircallClient._get` decides whether and when to retry.
    """
    status = response.status_code
    if 200 <= status < 300:
        try:
            payload = response.json()
        except ValueError:
            raise AircallResponseError(
                f"Aircall returned malformed JSON from {endpoint} (HTTP {status}, "
                f"{len(response.content)} bytes); a truncated body is usually transient",
                status=status,
                endpoint=endpoint,
                retryable=True,
            ) from None
        if not isinstance(payload, dict):
            raise AircallResponseError(
                f"Aircall returned a JSON {type(payload).__name__} from {endpoint}, expected an object",
                status=status,
                endpoint=endpoint,
            )
        return payload
    detail = _api_message(response)
    if status in (401, 403):
        raise AircallAuthError(
            f"Aircall rejected the API key (HTTP {status} from {endpoint}{': ' + detail if detail else ''}). "
            f"The key is wrong, was revoked, or its user lost Admin rights. {NEW_KEY_ADVICE}",
            status=status,
            endpoint=endpoint,
        )
    if status == 429:
        raise AircallRateLimitError(
            f"Aircall answered 429 Too Many Requests on {endpoint}; {SHARED_BUDGET_HINT}",
            status=status,
            endpoint=endpoint,
            retryable=True,
            headers=response.headers,
        )
    if status >= 500:
        raise AircallServerError(
            f"Aircall server error HTTP {status} on {endpoint}{': ' + detail if detail else ''}",
            status=status,
            endpoint=endpoint,
            retryable=True,
        )
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("Location", "")).hostname or "an unnamed location"
        raise AircallResponseError(
            f"Aircall redirected {endpoint} (HTTP {status}) to {target}; redirects are not followed so the "
            "credentials never go anywhere but AIRCALL_API_URL. Check AIRCALL_API_URL.",
            status=status,
            endpoint=endpoint,
        )
    raise AircallRequestError(
        f"Aircall refused the request to {endpoint} (HTTP {status}){': ' + detail if detail else ''}",
        status=status,
        endpoint=endpoint,
    )


def _api_message(response: requests.Response) -> str:
    """The body's error / troubleshoot / message / errors text, short; never the request's headers."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().replace("\n", " ")
        return text[:_BODY_EXCERPT]
    if not isinstance(body, dict):
        return str(body)[:_BODY_EXCERPT]
    parts = []
    for key in ("error", "troubleshoot", "message", "errors"):
        value = body.get(key)
        if value and str(value) not in parts:
            parts.append(str(value))
    return " - ".join(parts)[:_BODY_EXCERPT]


def network_reason(exc: BaseException) -> str:
    """The innermost cause of a requests network error, e.g. "Name or service not known"."""
    reason: BaseException = exc
    seen = set()
    while id(reason) not in seen:
        seen.add(id(reason))
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException):
            reason = inner
            continue
        if reason.args and isinstance(reason.args[0], BaseException):
            reason = reason.args[0]
            continue
        break
    text = str(reason)
    # urllib3 prefixes "<urllib3.connection.HTTPConnection object at 0x..>: "; drop it.
    text = re.sub(r"<[^>]+>: ?", "", text)
    return f"{type(exc).__name__}: {text}"[:_BODY_EXCERPT]


def record_list(payload: dict[str, Any], key: str, path: str) -> list[Any]:
    records = payload.get(key)
    if not isinstance(records, list):
        raise AircallResponseError(f"Aircall's answer on {path} has no `{key}` list", endpoint=path)
    return records


def record_object(payload: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    record = payload.get(key)
    if not isinstance(record, dict):
        raise AircallResponseError(f"Aircall's answer on {path} has no `{key}` object", endpoint=path)
    return record


def meta_total(payload: dict[str, Any], path: str, default: int | None = None) -> int:
    meta = payload.get("meta")
    total = meta.get("total") if isinstance(meta, dict) else None
    if isinstance(total, int) and total >= 0:
        return total
    if default is not None:
        return default
    raise AircallResponseError(f"Aircall's answer on {path} has no usable meta.total", endpoint=path)
