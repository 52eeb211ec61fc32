"""SandboxServer: the Aircall Public API on loopback, faithful to its observed behaviour.

What it reproduces. Sources: the Aircall Public API reference (https://developer.aircall.io/api-references/),
Aircall's help centre on the 10,000-result limit (https://support.aircall.io/en-gb/articles/34702023578397),
and the live probes of two connectors: Estuary's (https://github.com/estuary/connectors,
source-aircall-native/bruno/) and w6w's (https://github.com/w6w-io/w6w-apps, apps/aircall/).
- HTTP Basic auth at the edge: no Authorization header -> 401 {"message":"Unauthorized"}, wrong or
  malformed credentials -> 403 {"message":"Forbidden"}; unknown path -> 404 {"message":"Not Found"}.
- Lists `{"<plural>": [...], "meta": {...}}` with absolute next/previous links that carry the
  filters, `order` and `per_page`; `per_page` defaults to 20 and is silently clamped to 50.
- The positional 10,000-result cap: `page * per_page > 10000` -> 400 with the body observed live.
- `/v1/calls` windows on `started_at`, from exclusive, to inclusive.
- A per-company fixed-window rate limit; a 429 carries the X-AircallApi-* headers, 200s do not.
- `GET /v1/users` answers 410 Gone: User V1 was retired on 2026-09-30 and the pipeline must use v2.
- `GET /v1/webhooks` pages like the other lists, but its `meta` has no link keys at all (only
  count, total, current_page, per_page): clients must page by the counts. Items carry the plain-text
  `token` and URLs with credentials in them, as the live list does.

Choices where the live behaviour is unobserved (no public source documents or probed it):
- the 429 body follows the documented `{error, troubleshoot}` shape; no Retry-After header;
  X-AircallApi-Reset is UNIX seconds by default (`reset_header="milliseconds"` or `"none"` to vary);
- rate windows are fixed and aligned to multiples of `window_seconds` on the UNIX clock; only
  authenticated requests count; 429s do not consume the window;
- the cap is checked on the clamped `per_page`; a non-integer page/per_page/from/to is a 400 (ISO
  dates too: the live API silently misreads them, a test double should fail loudly);
- `from`/`to` on /v2/users and /v1/numbers use the same half-open rule on `created_at` as calls;
- the v1 users body after the sunset is a 410 in the documented error shape.

- Only `history_days` of calls are served (`horizon_days`, None: all): an older window answers 200
  with an empty list, as the live API does past its ~6 months.
- Calls as the clock sees them (call_lifecycle.py): a call not yet started is not served, one in
  progress has status `initial` (ringing) or `answered` and no `ended_at`/`duration`, and for
  `CALL_REWRITE_SECONDS` after it ends a call is still being rewritten (no recording or asset yet,
  cost 0.0).

Faults for tests and demos (faults.py; constructor options, `.control()`, or `POST /sandbox/control`):
latency, 5xx bursts or a seeded 5xx rate, key revocation after N requests, truncated JSON, a next-page
link to a foreign host, links without filters (`bare_links`), a meta.total that moves after the first
page (`total_drift`), forced 429s (`rate_limit_next`) with each form of reset header, numbers that
vanish between the list and their detail (`vanish_numbers`), unknown fields on or off. `/sandbox/*`
needs no auth and is not rate limited.

This module holds the request pipeline (auth, rate limit, faults, statistics) and the endpoints;
paging is in pagination.py, the bodies in responses.py, the 429 in rate_limit.py, the HTTP layer in
transport.py.
"""

from __future__ import annotations

import base64
import hmac
import json
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

from aircall_pipeline.config.settings import is_loopback_host
from aircall_pipeline.sandbox.call_lifecycle import as_of
from aircall_pipeline.sandbox.data import USER_EXTRA_FIELD, WEBHOOK_EXTRA_FIELD, SandboxAccount
from aircall_pipeline.sandbox.faults import FAULT_FIELDS, FOREIGN_HOST, FaultSettings
from aircall_pipeline.sandbox.pagination import in_window, page_response, window_params
from aircall_pipeline.sandbox.rate_limit import too_many_requests
from aircall_pipeline.sandbox.responses import (
    CAP_EXCEEDED_BODY,
    FORBIDDEN_BODY,
    ID_NOT_FOUND_BODY,
    NOT_FOUND_BODY,
    ROOT_BODY,
    UNAUTHORIZED_BODY,
    USER_V1_GONE_BODY,
    BadRequest,
    Response,
    json_bytes,
)
from aircall_pipeline.sandbox.stats import RequestStats
from aircall_pipeline.sandbox.transport import HTTPServer

# Names other modules import from here; their homes are the modules above.
__all__ = ["CAP_EXCEEDED_BODY", "FOREIGN_HOST", "SANDBOX_API_ID", "SANDBOX_API_TOKEN", "SandboxServer"]

# Fake credentials of every sandbox: printing them is harmless, they open nothing else.
SANDBOX_API_ID = "sandbox-api-id"
SANDBOX_API_TOKEN = "sandbox-api-token"  # noqa: S105 - a public, fake credential

class SandboxServer:
    """A simulated Aircall API for one `SandboxAccount`, served from a background thread."""

    def __init__(
        self,
        account: SandboxAccount | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_id: str = SANDBOX_API_ID,
        api_token: str = SANDBOX_API_TOKEN,
        rate_limit: int = 60,
        window_seconds: float = 60,
        reset_header: str = "seconds",
        latency_ms: int = 0,
        fail_5xx_next: int = 0,
        fail_5xx_rate: float = 0.0,
        revoke_after: int | None = None,
        malformed_json_next: int = 0,
        foreign_next_link: bool = False,
        unknown_fields: bool = True,
        fault_seed: int = 0,
        **more_faults: Any,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"the sandbox only binds to loopback, not {host!r}")
        self.account = account if account is not None else SandboxAccount()
        self.host = host
        self._requested_port = port
        self._expected_auth = "Basic " + base64.b64encode(f"{api_id}:{api_token}".encode()).decode()
        self._settings = FaultSettings(
            rate_limit=rate_limit,
            window_seconds=window_seconds,
            reset_header=reset_header,
            latency_ms=latency_ms,
            fail_5xx_next=fail_5xx_next,
            fail_5xx_rate=fail_5xx_rate,
            revoke_after=revoke_after,
            malformed_json_next=malformed_json_next,
            foreign_next_link=foreign_next_link,
            unknown_fields=unknown_fields,
        )
        unknown = set(more_faults) - FAULT_FIELDS
        if unknown:
            raise TypeError(f"unknown sandbox option(s): {sorted(unknown)}")
        self._settings = FaultSettings(**{**asdict(self._settings), **more_faults})
        self._settings.validate()
        self._lock = threading.Lock()
        self._counters = RequestStats()
        self._fault_rng = random.Random(fault_seed)
        self._fail_5xx_served = 0
        self._requests_since_revoke_set = 0
        self._window_index: int | None = None
        self._window_admitted = 0
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: Sequence[tuple[re.Pattern[str], str, Callable[..., Response]]] = (
            (re.compile(r"/v1/ping"), "/v1/ping", self._ping),
            (re.compile(r"/v1/company"), "/v1/company", self._company),
            (re.compile(r"/v2/users"), "/v2/users", self._list_users),
            (re.compile(r"/v2/users/([^/]+)"), "/v2/users/:id", self._get_user),
            (re.compile(r"/v1/users(/.*)?"), "/v1/users", self._user_v1_gone),
            (re.compile(r"/v1/teams"), "/v1/teams", self._list_teams),
            (re.compile(r"/v1/teams/([^/]+)"), "/v1/teams/:id", self._get_team),
            (re.compile(r"/v1/numbers"), "/v1/numbers", self._list_numbers),
            (re.compile(r"/v1/numbers/([^/]+)"), "/v1/numbers/:id", self._get_number),
            (re.compile(r"/v1/calls"), "/v1/calls", self._list_calls),
            (re.compile(r"/v1/calls/([^/]+)"), "/v1/calls/:id", self._get_call),
            (re.compile(r"/v1/webhooks"), "/v1/webhooks", self._list_webhooks),
        )

    # ------------------------------------------------------------------------- lifecycle

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._httpd = HTTPServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="aircall-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        # Keep-alive connections would otherwise go on being served by their handler threads.
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -------------------------------------------------------------------- test controls

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._counters.as_dict()

    def reset_stats(self) -> None:
        with self._lock:
            self._counters = RequestStats()

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self._settings)

    def control(self, **changes: Any) -> dict[str, Any]:
        """Change faults and limits at runtime; returns the resulting settings."""
        unknown = set(changes) - FAULT_FIELDS
        if unknown:
            raise ValueError(f"unknown sandbox control(s): {sorted(unknown)}; known: {sorted(FAULT_FIELDS)}")
        with self._lock:
            updated = FaultSettings(**{**asdict(self._settings), **changes})
            updated.validate()
            self._settings = updated
            if "revoke_after" in changes:
                self._requests_since_revoke_set = 0
            if "fail_5xx_next" in changes:
                self._fail_5xx_served = 0
            return asdict(updated)

    # ------------------------------------------------------------------ request handling

    def respond(self, method: str, path: str, query: str, authorization: str | None, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """Answer one HTTP request: (status, body bytes, extra headers)."""
        if path.startswith("/sandbox/"):
            status, payload = self._sandbox_hook(method, path, body)
            return status, json_bytes(payload), {}
        if path in ("", "/"):
            return 200, json_bytes(ROOT_BODY), {}
        route = self._match(path) if method == "GET" else None
        endpoint = route[1] if route else "(unknown)"
        with self._lock:
            self._counters.requests += 1
            self._counters.by_endpoint[endpoint] += 1
            self._requests_since_revoke_set += 1
            settings = self._settings
            revoked = settings.revoke_after is not None and self._requests_since_revoke_set > settings.revoke_after
        if settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        status, payload, headers, injected = self._api_response(route, query, authorization, settings, revoked)
        encoded = json_bytes(payload)
        with self._lock:
            if status == 200 and not injected and self._malformed_pending():
                encoded = encoded[: len(encoded) // 2]
                injected = True
            counters = self._counters
            counters.by_status[status] += 1
            if injected:
                counters.errors_injected += 1
            elif status == 200:
                key = f"{path}?{query}"
                if key in counters.answered:
                    counters.duplicates += 1
                counters.answered.add(key)
        return status, encoded, headers

    def _api_response(
        self,
        route: tuple[re.Match[str], str, Callable[..., Response]] | None,
        query: str,
        authorization: str | None,
        settings: FaultSettings,
        revoked: bool,
    ) -> tuple[int, dict[str, Any], dict[str, str], bool]:
        """(status, payload, headers, whether a fault produced it)."""
        if route is None:
            return 404, NOT_FOUND_BODY, {}, False
        if not authorization:
            return 401, UNAUTHORIZED_BODY, {}, False
        if not hmac.compare_digest(authorization.encode(), self._expected_auth.encode()):
            return 403, FORBIDDEN_BODY, {}, False
        if revoked:
            return 401, UNAUTHORIZED_BODY, {}, True
        limited = self._admit(settings)
        if limited is not None:
            return 429, limited[0], limited[1], False
        failure = self._injected_5xx(settings)
        if failure is not None:
            return failure[0], failure[1], {}, True
        match, _, handler = route
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            status, payload, headers = handler(params, *match.groups())
        except BadRequest as error:
            return 400, error.body, {}, False
        return status, payload, headers, False

    def _match(self, path: str) -> tuple[re.Match[str], str, Callable[..., Response]] | None:
        normalized = path.rstrip("/") or "/"
        for pattern, endpoint, handler in self._routes:
            match = pattern.fullmatch(normalized)
            if match:
                return match, endpoint, handler
        return None

    def _admit(self, settings: FaultSettings) -> tuple[dict[str, Any], dict[str, str]] | None:
        """Count the request in the company's fixed window; the 429 body and headers when it is full."""
        now = time.time()
        window = int(now // settings.window_seconds)
        with self._lock:
            if window != self._window_index:
                self._window_index = window
                self._window_admitted = 0
            forced = self._settings.rate_limit_next > 0
            if forced:
                self._settings.rate_limit_next -= 1
            if not forced and self._window_admitted < settings.rate_limit:
                self._window_admitted += 1
                self._counters.max_in_window = max(self._counters.max_in_window, self._window_admitted)
                self._counters.by_window[window * settings.window_seconds] += 1
                if self._counters.first_admitted_at is None:
                    self._counters.first_admitted_at = now
                self._counters.last_admitted_at = now
                return None
            self._counters.rate_limited += 1
        return too_many_requests(settings, window, now)

    def _injected_5xx(self, settings: FaultSettings) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            if self._settings.fail_5xx_next > 0:
                self._settings.fail_5xx_next -= 1
                self._fail_5xx_served += 1
                # Alternate the two statuses the edge returns when the application is down.
                return (503, {"message": "Service Unavailable"}) if self._fail_5xx_served % 2 else (
                    502, {"message": "Bad Gateway"})
            if settings.fail_5xx_rate and self._fault_rng.random() < settings.fail_5xx_rate:
                return 503, {"message": "Service Unavailable"}
        return None

    def _malformed_pending(self) -> bool:
        """Consume one pending truncated-JSON fault (caller holds the lock)."""
        if self._settings.malformed_json_next > 0:
            self._settings.malformed_json_next -= 1
            return True
        return False

    def _foreign_link_pending(self) -> bool:
        with self._lock:
            if self._settings.foreign_next_link:
                self._settings.foreign_next_link = False
                self._counters.errors_injected += 1
                return True
            return False

    def _sandbox_hook(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if path == "/sandbox/stats" and method == "GET":
            return 200, self.stats()
        if path == "/sandbox/reset" and method == "POST":
            self.reset_stats()
            return 200, self.stats()
        if path == "/sandbox/control" and method == "GET":
            return 200, self.settings()
        if path == "/sandbox/control" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                return 200, self.control(**changes)
            except (ValueError, TypeError) as error:
                return 400, {"error": "Bad Request", "troubleshoot": str(error)}
        return 404, NOT_FOUND_BODY

    # --------------------------------------------------------------------- endpoints

    def _ping(self, params: dict[str, str]) -> Response:
        return 200, {"ping": "pong"}, {}

    def _company(self, params: dict[str, str]) -> Response:
        return 200, {"company": self.account.company()}, {}

    def _user_v1_gone(self, params: dict[str, str], _rest: str | None = None) -> Response:
        return 410, USER_V1_GONE_BODY, {}

    def _list_users(self, params: dict[str, str]) -> Response:
        account = self.account
        low, high = window_params(params)
        indexes = [i for i in range(len(account.users)) if in_window(account.user_created_at(i), low, high)]
        unknown = self._settings.unknown_fields
        return self._page("users", "/v2/users", params, indexes,
                          lambda i: _strip_user(account.users[i], unknown))

    def _get_user(self, params: dict[str, str], key: str) -> Response:
        user = self.account.user(key)
        if user is None:
            return 404, ID_NOT_FOUND_BODY, {}
        return 200, {"user": _strip_user(user, self._settings.unknown_fields)}, {}

    def _list_teams(self, params: dict[str, str]) -> Response:
        # Teams accept no from/to filter (live behaviour): they are ignored, like any unknown parameter.
        return self._page("teams", "/v1/teams", params, range(len(self.account.teams)),
                          self.account.team_list_item)

    def _get_team(self, params: dict[str, str], key: str) -> Response:
        team = self.account.team(int(key)) if key.isdigit() else None
        return (200, {"team": team}, {}) if team else (404, ID_NOT_FOUND_BODY, {})

    def _list_numbers(self, params: dict[str, str]) -> Response:
        account = self.account
        low, high = window_params(params)
        indexes = [i for i in range(len(account.numbers)) if in_window(account.number_created_at(i), low, high)]
        return self._page("numbers", "/v1/numbers", params, indexes, lambda i: account.numbers[i])

    def _get_number(self, params: dict[str, str], key: str) -> Response:
        number = self.account.number(int(key)) if key.isdigit() else None
        vanished = {n["id"] for n in self.account.numbers[: self._settings.vanish_numbers]}
        if number and number["id"] in vanished:
            return 404, ID_NOT_FOUND_BODY, {}
        return (200, {"number": number}, {}) if number else (404, ID_NOT_FOUND_BODY, {})

    def _list_calls(self, params: dict[str, str]) -> Response:
        low, high = window_params(params)
        now = int(time.time())
        # Calls not started yet do not exist; calls older than the horizon are no longer served.
        high = now if high is None else min(high, now)
        horizon = self._settings.horizon_days
        if horizon is not None:
            oldest = now - int(horizon * 86400)
            low = oldest - 1 if low is None else max(low, oldest - 1)
        indexes = self.account.call_range(low, high) if low is None or low < high else range(0)
        render = self._call_renderer(params)
        status, body, headers = self._page("calls", "/v1/calls", params, indexes, render)
        body["meta"]["total"] += self._settings.phantom_calls
        if body["meta"]["current_page"] > 1:
            body["meta"]["total"] += self._settings.total_drift
        return status, body, headers

    def _get_call(self, params: dict[str, str], key: str) -> Response:
        index = self.account.call_index(int(key)) if key.isdigit() else None
        if index is None:
            return 404, ID_NOT_FOUND_BODY, {}
        return 200, {"call": self._call_renderer(params)(index)}, {}

    def _list_webhooks(self, params: dict[str, str]) -> Response:
        webhooks = self.account.webhooks
        unknown = self._settings.unknown_fields
        status, body, headers = self._page(
            "webhooks", "/v1/webhooks", params, range(len(webhooks)),
            lambda i: _without(webhooks[i], WEBHOOK_EXTRA_FIELD, unknown), links=False)
        body["meta"]["total"] += self._settings.phantom_webhooks
        return status, body, headers

    def _call_renderer(self, params: dict[str, str]) -> Callable[[int], dict[str, Any]]:
        unknown = self._settings.unknown_fields
        short_urls = params.get("fetch_short_urls", "").lower() == "true"
        now = int(time.time())
        return lambda i: as_of(self.account.call(i, include_unknown=unknown, short_urls=short_urls), now)

    def _page(
        self,
        plural: str,
        path: str,
        params: dict[str, str],
        indexes: Sequence[int],
        render: Callable[[int], dict[str, Any]],
        *,
        links: bool = True,
    ) -> Response:
        return page_response(plural, path, params, indexes, render, base_url=self.url,
                             next_base_url=self._next_base_url, bare_links=self._settings.bare_links, links=links)

    def _next_base_url(self) -> str:
        return FOREIGN_HOST if self._foreign_link_pending() else self.url


def _strip_user(user: dict[str, Any], unknown_fields: bool) -> dict[str, Any]:
    return _without(user, USER_EXTRA_FIELD, unknown_fields)


def _without(record: dict[str, Any], extra_field: str, unknown_fields: bool) -> dict[str, Any]:
    """`record` as served: its unknown extra field only while unknown fields are switched on."""
    if unknown_fields or extra_field not in record:
        return record
    return {k: v for k, v in record.items() if k != extra_field}
