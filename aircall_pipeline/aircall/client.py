"""AircallClient: one session, HTTP Basic, typed errors, bounded retries, paginated iterators.

The shape follows the HTTP clients worth copying (requests' adapters, Stripe's and Slack's SDKs):
- one `requests.Session` with explicit (connect, read) timeouts;
- one function, `interpret()`, turning a response into a payload or a typed `AircallError`;
- one `RetryPolicy` deciding every wait; the only `sleep`s are in `_get()` and the budget;
- pagination as iterators that build every page's query from the client's own parameters (`page`,
  `per_page`, `from`, `to`, `order`): `meta.next_page_link` only says that there is a next page,
  because the one documented link form (`.../v1/calls?page=2&per_page=20`, see "Pagination" at
  https://developer.aircall.io/api-references/) carries no filters, and following it would read
  the whole history instead of the window; lists whose `meta` has no links (/v1/webhooks) count pages;
- every request, retries included, first goes through the shared `RequestBudget`.

The token lives only in the session's auth object: no message, log line or repr built here
contains it or the Authorization header.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import HTTPBasicAuth

from aircall_pipeline import __version__
from aircall_pipeline.aircall import windows
from aircall_pipeline.aircall.budget import BudgetTimeout, RequestBudget
from aircall_pipeline.aircall.errors import (
    NEW_KEY_ADVICE,
    RATE_LIMIT_ADVICE,
    AircallAuthError,
    AircallRateLimitError,
    AircallRequestError,
    AircallResponseError,
    AircallServerError,
)
from aircall_pipeline.aircall.retry import RetryPolicy
from aircall_pipeline.aircall.windows import PER_PAGE, CallWindow
from aircall_pipeline.timestamps import iso_utc
from aircall_pipeline.urls import DEFAULT_API_URL, validate_api_url

USER_AGENT = f"aircall_pipeline/{__version__} (+python-requests)"
SHARED_BUDGET_HINT = "the budget is shared with every integration on the account"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
_BODY_EXCERPT = 300

_TRANSIENT_NETWORK_ERRORS = (
    requests.ConnectionError,  # DNS, refused, reset; ConnectTimeout is one too
    requests.Timeout,  # ReadTimeout
    requests.exceptions.ChunkedEncodingError,  # the connection dropped mid-body
    requests.exceptions.ContentDecodingError,
)


# -- statistics -----------------------------------------------------------------------------


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


# -- the one place statuses become exceptions -----------------------------------------------


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


def _network_reason(exc: BaseException) -> str:
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


# -- the client -----------------------------------------------------------------------------


class AircallClient:
    """The Aircall Public API, as the pipeline needs it. Not thread-safe; one per thread."""

    def __init__(
        self,
        api_id: str,
        api_token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        budget: RequestBudget | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing the default is safe
        timeout: tuple[float, float] = (5.0, 30.0),
        logger: logging.Logger | Any | None = None,
        acquire_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not api_id or not api_token:
            raise ValueError("AircallClient needs a non-empty api_id and api_token")
        self.api_url = validate_api_url(api_url)
        parts = urlsplit(self.api_url)  # validated: no credentials, https or loopback http
        self._origin = _origin(self.api_url)
        self.api_id = api_id
        self.budget = budget
        self.retry = retry.with_window(budget.window_seconds if budget is not None else 60.0)
        self.timeout = timeout
        self.acquire_timeout = acquire_timeout
        self.log = logger or logging.getLogger("aircall_pipeline.aircall")
        self.stats = RequestStats()
        self.call_windows: list[CallWindow] = []
        # Every wait of the request loop goes through these two (tests pass a recorder, so a 60 s
        # block is checked without sleeping 60 s).
        self._clock = clock
        self._sleep = sleep
        self._session = requests.Session()
        if parts.scheme == "http":
            # Plain http:// is only accepted on loopback (settings.validate_api_url). A proxy taken
            # from the environment (HTTP_PROXY, ALL_PROXY) would receive the Basic header in clear,
            # so such a target is always reached directly, whatever NO_PROXY says.
            self._session.trust_env = False
        self._session.auth = HTTPBasicAuth(api_id, api_token)
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._closed = False

    def __repr__(self) -> str:
        return f"AircallClient(api_url={self.api_url!r}, api_id={self.api_id!r})"

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._session.close()

    def __enter__(self) -> AircallClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- endpoints --------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        return self._get("/v1/ping")

    def company(self) -> dict[str, Any]:
        return _record(self._get("/v1/company"), "company", "/v1/company")

    def iter_users(self) -> Iterator[dict[str, Any]]:
        """Every user, from /v2/users (the v1 user endpoints were retired on 2026-09-30)."""
        yield from self._iter_records("/v2/users", "users")

    def iter_teams(self) -> Iterator[dict[str, Any]]:
        """Every team, members embedded in `users`."""
        yield from self._iter_records("/v1/teams", "teams")

    def iter_numbers(self) -> Iterator[dict[str, Any]]:
        yield from self._iter_records("/v1/numbers", "numbers")

    def iter_webhooks(self) -> Iterator[dict[str, Any]]:
        """Every webhook (`GET /v1/webhooks`), each `webhook_id` once.

        The records hold the webhook's shared secret (`token`) in plain text: callers keep only what
        they need and never log a record.
        """
        yield from self._iter_counted("/v1/webhooks", "webhooks", id_field="webhook_id")

    def number(self, number_id: int | str) -> dict[str, Any]:
        """One number with its `users[]` (the list endpoint may omit them)."""
        if not str(number_id).isdigit():
            raise ValueError(f"number id {number_id!r} is not a positive integer")
        path = f"/v1/numbers/{int(number_id)}"
        return _record(self._get(path), "number", path)

    def iter_call_pages(self, start: datetime, end: datetime) -> Iterator[list[dict[str, Any]]]:
        """Calls with start <= started_at < end, one list per page, each call id once.

        The range becomes the API's (from, to] and is split in halves while a window holds
        10,000 calls or more (see windows.py), so no request ever passes the API's 10,000-result
        cap. Afterwards `self.call_windows` lists every leaf window with its `meta.total` (the first
        page's) and the number of calls fetched for it: the completeness evidence. A window whose
        answer is empty is checked against the API's history (`_empty_window_collectable`).
        """
        from_ts, to_ts = windows.api_bounds(start, end)
        self.call_windows = []
        seen: set[Any] = set()
        for leaf in windows.walk(from_ts, to_ts, self._probe_calls):
            window_ids: set[Any] = set()
            outside = total_changes = 0
            params = self._call_params(leaf.from_ts, leaf.to_ts)
            for number, payload in enumerate(self._pages("/v1/calls", params, first=leaf.first, on_cap="stop")):
                calls = _records(payload, "calls", "/v1/calls")
                later_total = _meta_total(payload, "/v1/calls", default=leaf.total)
                if number and later_total != leaf.total:
                    # The first page's total is the window's: a count that moves while the window is
                    # read means calls were added or removed meanwhile, and taking the last one would
                    # hide it. AC-14 then compares what was fetched with the first figure.
                    total_changes += 1
                    self.log.warning(
                        f"/v1/calls window {windows.describe(leaf.from_ts, leaf.to_ts)}: page {number + 1} "
                        f"says meta.total={later_total}, the first page said {leaf.total}; the first is kept"
                    )
                fresh = []
                for call in calls:
                    started = call.get("started_at") if isinstance(call, dict) else None
                    if isinstance(started, int | float) and not (leaf.from_ts < started <= leaf.to_ts):
                        outside += 1
                        continue
                    call_id = call.get("id") if isinstance(call, dict) else None
                    key = call_id if call_id is not None else id(call)
                    window_ids.add(key)
                    if key in seen:
                        continue
                    seen.add(key)
                    fresh.append(call)
                if fresh:
                    yield fresh
            collectable = True
            if leaf.total == 0 and not window_ids:
                collectable = self._empty_window_collectable(leaf.from_ts, leaf.to_ts)
            window = CallWindow(leaf.from_ts, leaf.to_ts, meta_total=leaf.total, fetched=len(window_ids),
                                collectable=collectable, total_changes=total_changes)
            self.call_windows.append(window)
            if outside:
                self.log.warning(
                    f"/v1/calls returned {outside} call(s) outside the requested window "
                    f"{windows.describe(leaf.from_ts, leaf.to_ts)}; they were left out"
                )
            if not collectable:
                self.log.warning(
                    f"/v1/calls window {windows.describe(leaf.from_ts, leaf.to_ts)} is not collectable: the "
                    "API answers it with an empty list but serves calls after it and none before it, so the "
                    "window is older than the call history Aircall keeps (about six months)"
                )
            elif not window.complete:
                self.log.warning(
                    f"/v1/calls window {windows.describe(leaf.from_ts, leaf.to_ts)}: fetched "
                    f"{window.fetched} calls but meta.total says {window.meta_total}"
                )

    def _empty_window_collectable(self, from_ts: int, to_ts: int) -> bool:
        """Whether an empty answer for (from, to] means "no calls" rather than "past the history".

        Aircall keeps about six months of calls and answers an older window with an empty 200, not an
        error (Estuary's horizon probe, https://github.com/estuary/connectors, source-aircall-native
        bruno/Calls). When the API still serves a call at or before `from`, its history reaches back
        past the window, so the window is really empty. When it serves none before but some after, the
        window lies beyond what it keeps (or before the account's first call: the API cannot tell the
        two apart), and an empty list there proves nothing. No call at all: an account without calls.
        Costs one or two requests, only for empty windows."""
        before = self._get("/v1/calls", {"to": from_ts, "order": "asc", "per_page": 1, "page": 1})
        if _meta_total(before, "/v1/calls") > 0:
            return True
        after = self._get("/v1/calls", {"from": to_ts, "order": "asc", "per_page": 1, "page": 1})
        return _meta_total(after, "/v1/calls") == 0

    # -- pagination -------------------------------------------------------------------------

    @staticmethod
    def _call_params(from_ts: int, to_ts: int) -> dict[str, Any]:
        return {"from": from_ts, "to": to_ts, "order": "asc", "per_page": PER_PAGE, "page": 1}

    def _probe_calls(self, from_ts: int, to_ts: int) -> tuple[int, dict[str, Any]]:
        """A window's first page at per_page=50: its meta.total decides a split, else it is kept."""
        payload = self._get("/v1/calls", self._call_params(from_ts, to_ts))
        total = _meta_total(payload, "/v1/calls")
        if windows.must_split(total, from_ts, to_ts):
            self.log.info(
                f"/v1/calls window {windows.describe(from_ts, to_ts)} holds {total} calls "
                f"(the API pages at most {windows.MAX_RESULTS:,}); splitting it in halves"
            )
        elif total >= windows.SPLIT_AT:
            self.log.warning(
                f"/v1/calls: {total} calls in the single second {windows.describe(from_ts, to_ts)}; "
                f"only the first {windows.MAX_RESULTS:,} can be fetched"
            )
        return total, payload

    def _iter_records(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        seen: set[Any] = set()
        for payload in self._pages(path, {"per_page": PER_PAGE, "page": 1}):
            for record in _records(payload, key, path):
                record_id = record.get("id") if isinstance(record, dict) else None
                if record_id is not None:
                    if record_id in seen:
                        continue
                    seen.add(record_id)
                yield record

    def _iter_counted(self, path: str, key: str, *, id_field: str = "id") -> Iterator[dict[str, Any]]:
        """Every record of a list whose `meta` has no link keys (e.g. /v1/webhooks): pages are asked
        for by number, and the walk stops once current_page * per_page reaches meta.total or a page
        comes back short or empty. No link is ever followed: the only URL is AIRCALL_API_URL + path."""
        seen: set[Any] = set()
        page, received = 1, 0
        while True:
            if not windows.page_allowed(page, PER_PAGE):
                raise AircallResponseError(
                    f"{path}: page {page} at {PER_PAGE} per page would pass the API's "
                    f"{windows.MAX_RESULTS:,}-result cap; not requested", endpoint=path)
            payload = self._get(path, {"per_page": PER_PAGE, "page": page})
            records = _records(payload, key, path)
            meta = payload.get("meta")
            if not isinstance(meta, dict):
                raise AircallResponseError(f"Aircall's answer on {path} has no `meta` object", endpoint=path)
            received += len(records)
            for record in records:
                record_id = record.get(id_field) if isinstance(record, dict) else None
                if record_id is not None:
                    if record_id in seen:
                        continue
                    seen.add(record_id)
                yield record
            per_page = meta.get("per_page")
            per_page = per_page if isinstance(per_page, int) and per_page > 0 else PER_PAGE
            current = meta.get("current_page", page)
            if current != page:
                # Counting on would then ask for the same page forever, or skip some.
                raise AircallResponseError(
                    f"Aircall answered page {current!r} of {path} when asked for page {page}", endpoint=path)
            total = meta.get("total")
            if len(records) < per_page:
                if isinstance(total, int) and received < total:
                    self.log.warning(f"{path}: meta.total says {total} but the pages held {received}; "
                                     "the list changed while it was read, or the API overcounts")
                return
            if isinstance(total, int) and page * per_page >= total:
                return
            page += 1

    def _pages(
        self,
        path: str,
        params: dict[str, Any],
        *,
        first: dict[str, Any] | None = None,
        on_cap: str = "raise",
    ) -> Iterator[dict[str, Any]]:
        """Every page of a list: the first (fetched here unless given), then page 2, 3, ... each asked
        with `params` and only its `page` changed. `meta.next_page_link` (or, without link keys, the
        counts) only decides whether there is a next page: its query is never used."""
        payload = first if first is not None else self._get(path, params)
        page = int(params.get("page", 1))
        per_page = int(params.get("per_page", PER_PAGE))
        while True:
            yield payload
            meta = payload.get("meta")
            if not isinstance(meta, dict):
                raise AircallResponseError(f"Aircall's answer on {path} has no `meta` object", endpoint=path)
            if not self._has_next_page(meta, path, page, per_page):
                return
            next_page = page + 1
            if not windows.page_allowed(next_page, per_page):
                message = (
                    f"{path}: page {next_page} at {per_page} per page would pass the API's "
                    f"{windows.MAX_RESULTS:,}-result cap (meta.total={meta.get('total')}); not requested"
                )
                if on_cap == "stop":
                    self.log.warning(message)
                    return
                raise AircallResponseError(message, endpoint=path)
            payload = self._get(path, {**params, "page": next_page})
            answered = payload.get("meta", {}).get("current_page", next_page) if isinstance(
                payload.get("meta"), dict) else next_page
            if answered != next_page:
                # Paging on would then repeat or skip pages.
                raise AircallResponseError(
                    f"Aircall answered page {answered!r} of {path} when asked for page {next_page}", endpoint=path)
            page = next_page

    def _has_next_page(self, meta: Mapping[str, Any], path: str, page: int, per_page: int) -> bool:
        if "next_page_link" not in meta:
            # Some endpoints omit the link keys (e.g. /v1/webhooks): page by the counts instead.
            total, current = meta.get("total"), meta.get("current_page") or page
            served = meta.get("per_page") or per_page
            return isinstance(total, int) and isinstance(current, int) and current * served < total
        link = meta["next_page_link"]
        if link in (None, ""):
            return False
        if not isinstance(link, str):
            raise AircallResponseError(f"Aircall's next_page_link on {path} is not a string", endpoint=path)
        absolute = urljoin(self.api_url + "/", link)
        parts = urlsplit(absolute)
        if _origin(absolute) != self._origin or parts.username or parts.password:
            # The link is never requested, but an answer pointing elsewhere is not the API we think
            # we are talking to (a proxy or a spoofed host): stop rather than trust its pages.
            raise AircallResponseError(
                f"Aircall's next_page_link on {path} points to {parts.scheme}://{parts.hostname}"
                f"{':' + str(parts.port) if parts.port else ''}, not to AIRCALL_API_URL "
                f"({self.api_url}); it was not followed, so the credentials stayed here",
                endpoint=path,
            )
        return True

    # -- the request loop -------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, Any] | None = None, *, url: str | None = None) -> dict[str, Any]:
        """GET with the budget, the typed errors and the retry policy. The only place that sleeps."""
        if self._closed:
            raise RuntimeError("this AircallClient is closed")
        endpoint = endpoint_template(path)
        target = url or self.api_url + path
        transient = malformed = blocked = 0
        rate_limit_waited = 0.0
        while True:
            self._acquire(endpoint)
            self.stats.add(endpoint, "requests")
            try:
                try:
                    response = self._session.get(
                        target, params=params, timeout=self.timeout, allow_redirects=False
                    )
                except requests.exceptions.SSLError as exc:
                    # A certificate problem does not heal in seconds: say so at once.
                    reason = f"TLS failed: {_network_reason(exc)}"
                    raise AircallServerError(
                        f"could not reach {self.api_url} ({endpoint}): {reason}", endpoint=endpoint, reason=reason
                    ) from exc
                except _TRANSIENT_NETWORK_ERRORS as exc:
                    reason = _network_reason(exc)
                    raise AircallServerError(
                        f"could not reach {self.api_url} ({endpoint}): {reason}",
                        endpoint=endpoint,
                        reason=reason,
                        retryable=True,
                    ) from exc
                except requests.RequestException as exc:
                    reason = _network_reason(exc)
                    raise AircallServerError(
                        f"could not send {endpoint} to {self.api_url}: {reason}", endpoint=endpoint, reason=reason
                    ) from exc
                try:
                    return interpret(response, endpoint)
                finally:
                    response.close()
            except AircallRateLimitError as exc:
                self.stats.add(endpoint, "rate_limited")
                # A 429 right after waiting one out means the block had not ended: the header was
                # wrong, so the next wait is a whole window whatever it says.
                wait = self.retry.wait_after_429(exc.headers, self._clock(), repeated=blocked > 0)
                blocked += 1
                if self.budget is not None:
                    self.budget.pause_until(wait.reset_at, f"429 on {endpoint}")
                if rate_limit_waited + wait.seconds > self.retry.max_rate_limit_wait:
                    raise AircallRateLimitError(
                        f"Aircall kept answering 429 Too Many Requests on {endpoint} after "
                        f"{rate_limit_waited:.0f} s of waiting (limit {self.retry.max_rate_limit_wait:g} s); "
                        f"the counter resets at {_iso(wait.reset_at)}. {RATE_LIMIT_ADVICE}",
                        reset_at=wait.reset_at,
                        status=429,
                        endpoint=endpoint,
                    ) from None
                self.log.warning(
                    f"429 from {endpoint}: waiting {wait.seconds:.1f} s until {wait.reason}; "
                    f"{SHARED_BUDGET_HINT}"
                )
                self._sleep(wait.seconds)
                rate_limit_waited += wait.seconds
            except AircallServerError as exc:
                if not exc.retryable:
                    raise
                if not self.retry.should_retry(transient):
                    attempts = transient + 1
                    raise AircallServerError(
                        f"{exc} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})",
                        status=exc.status,
                        endpoint=endpoint,
                        retryable=True,
                        reason=exc.reason,
                        attempts=attempts,
                    ) from exc.__cause__
                transient += 1
                delay = self.retry.backoff(transient)
                self.log.warning(f"{exc}; retry {transient}/{self.retry.max_retries} in {delay:.1f} s")
                self._sleep(delay)
            except AircallResponseError as exc:
                if not exc.retryable or malformed >= self.retry.max_malformed_retries:
                    raise
                malformed += 1
                delay = self.retry.backoff(malformed)
                self.log.warning(f"{exc}; retry {malformed}/{self.retry.max_malformed_retries} in {delay:.1f} s")
                self._sleep(delay)
            self.stats.add(endpoint, "retries")

    def _acquire(self, endpoint: str) -> None:
        if self.budget is None:
            return
        try:
            self.budget.acquire(timeout=self.acquire_timeout)
        except BudgetTimeout as exc:
            paused = self.budget.paused_until()
            if paused is not None:
                raise AircallRateLimitError(
                    f"not sending {endpoint}: a process sharing the request budget got a 429; every sharer "
                    f"holds back until {_iso(paused)} ({SHARED_BUDGET_HINT})",
                    reset_at=paused,
                    endpoint=endpoint,
                ) from None
            raise AircallRateLimitError(f"not sending {endpoint}: {exc}", endpoint=endpoint) from None


# -- small helpers --------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def _records(payload: dict[str, Any], key: str, path: str) -> list[Any]:
    records = payload.get(key)
    if not isinstance(records, list):
        raise AircallResponseError(f"Aircall's answer on {path} has no `{key}` list", endpoint=path)
    return records


def _record(payload: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    record = payload.get(key)
    if not isinstance(record, dict):
        raise AircallResponseError(f"Aircall's answer on {path} has no `{key}` object", endpoint=path)
    return record


def _meta_total(payload: dict[str, Any], path: str, default: int | None = None) -> int:
    meta = payload.get("meta")
    total = meta.get("total") if isinstance(meta, dict) else None
    if isinstance(total, int) and total >= 0:
        return total
    if default is not None:
        return default
    raise AircallResponseError(f"Aircall's answer on {path} has no usable meta.total", endpoint=path)


def _iso(ts: float | None) -> str:
    if ts is None:
        return "an unknown time"
    return iso_utc(ts, timespec="seconds")
