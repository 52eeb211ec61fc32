"""SandboxServer: the Aircall Public API on loopback, faithful to its observed behaviour.

What it reproduces (Aircall's API reference, https://developer.aircall.io/api-references/, its help
centre article on the 10,000-record limit, https://support.aircall.io/en-gb/articles/34702023578397,
and what public connectors record of the live API, e.g. Estuary's `source-aircall-native` probes):
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

Choices where the live behaviour is unobserved (each flagged UNCERTAIN in the facts file):
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
- Calls as the clock sees them: a call not yet started is not served, one in progress has status
  `initial` (ringing) or `answered` and no `ended_at`/`duration`, and for `CALL_REWRITE_SECONDS`
  after it ends a call is still being rewritten (no recording or asset yet, cost 0.0).

Faults for tests and demos (constructor options, `.control()`, or `POST /sandbox/control`): latency,
5xx bursts or a seeded 5xx rate, key revocation after N requests, truncated JSON, a next-page link
to a foreign host, links without filters (`bare_links`), a meta.total that moves after the first
page (`total_drift`), forced 429s (`rate_limit_next`) with each form of reset header, numbers that
vanish between the list and their detail (`vanish_numbers`), unknown fields on or off. `/sandbox/*`
needs no auth and is not rate limited.
"""

from __future__ import annotations

import base64
import hmac
import json
import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aircall_pipeline.aircall.windows import MAX_RESULTS
from aircall_pipeline.sandbox.data import USER_EXTRA_FIELD, WEBHOOK_EXTRA_FIELD, SandboxAccount
from aircall_pipeline.settings import is_loopback_host

# Fake credentials of every sandbox: printing them is harmless, they open nothing else.
SANDBOX_API_ID = "sandbox-api-id"
SANDBOX_API_TOKEN = "sandbox-api-token"  # noqa: S105 - a public, fake credential

MAX_PER_PAGE = 50
DEFAULT_PER_PAGE = 20
FOREIGN_HOST = "http://evil.example.test"

# Observed verbatim on the live API for any page past the cap (Estuary probe notes).
CAP_EXCEEDED_BODY = {
    "error": "Bad Request",
    "data": None,
    "message": "BAD_REQUEST",
    "errors": "Your query is limited to 10k results and pagination is out of bound, please use timestamps or other filters.",
    "troubleshoot": "BAD_REQUEST",
    "success": False,
}
UNAUTHORIZED_BODY = {"message": "Unauthorized"}
FORBIDDEN_BODY = {"message": "Forbidden"}
NOT_FOUND_BODY = {"message": "Not Found"}
ID_NOT_FOUND_BODY = {"error": "Not found", "troubleshoot": "Id does not exist"}
# The live 410 body after the sunset is unobserved; this one follows the documented error shape.
USER_V1_GONE_BODY = {
    "error": "Gone",
    "troubleshoot": "User V1 API was retired on 2026-09-30. Use GET /v2/users instead.",
}
ROOT_BODY = {
    "resource": "Aircall Public API (sandbox)",
    "contact": "https://developer.aircall.io/api-references/",
    "documentation": "/v1/ping, /v1/company, /v2/users, /v1/teams, /v1/numbers, /v1/calls, /v1/webhooks; "
                     "test hooks under /sandbox/",
}
# How X-AircallApi-Reset is sent: the unit is undocumented, so the sandbox can answer with each form
# a client must survive: a future time in seconds or milliseconds, none at all, a time in the past,
# a relative number of seconds (`30`) and an unreadable value.
RESET_HEADER_UNITS = ("seconds", "milliseconds", "none", "past", "relative", "unreadable")
# Estuary saw calls rewritten up to 20 minutes after they ended (https://github.com/estuary/connectors,
# source-aircall-native: realtime plus a 24 h lookback re-read for that reason).
CALL_REWRITE_SECONDS = 20 * 60

Response = tuple[int, dict[str, Any], dict[str, str]]


class BadRequest(Exception):
    def __init__(self, body: dict[str, Any]):
        super().__init__(body.get("troubleshoot", "Bad Request"))
        self.body = body


def _bad_parameter(name: str, detail: str) -> BadRequest:
    return BadRequest({"error": "Bad Request", "troubleshoot": f"Invalid parameter '{name}': {detail}."})


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


class _Counters:
    """Request statistics; guarded by the server's lock."""

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
        self._counters = _Counters()
        self._fault_rng = random.Random(fault_seed)
        self._fail_5xx_served = 0
        self._requests_since_revoke_set = 0
        self._window_index: int | None = None
        self._window_admitted = 0
        self._httpd: _HTTPServer | None = None
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
        self._httpd = _HTTPServer((self.host, self._requested_port), self)
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
            self._counters = _Counters()

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
            return status, _json_bytes(payload), {}
        if path in ("", "/"):
            return 200, _json_bytes(ROOT_BODY), {}
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
        encoded = _json_bytes(payload)
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
        low, high = _window_params(params)
        indexes = [i for i in range(len(account.users)) if _in_window(account.user_created_at(i), low, high)]
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
        low, high = _window_params(params)
        indexes = [i for i in range(len(account.numbers)) if _in_window(account.number_created_at(i), low, high)]
        return self._page("numbers", "/v1/numbers", params, indexes, lambda i: account.numbers[i])

    def _get_number(self, params: dict[str, str], key: str) -> Response:
        number = self.account.number(int(key)) if key.isdigit() else None
        vanished = {n["id"] for n in self.account.numbers[: self._settings.vanish_numbers]}
        if number and number["id"] in vanished:
            return 404, ID_NOT_FOUND_BODY, {}
        return (200, {"number": number}, {}) if number else (404, ID_NOT_FOUND_BODY, {})

    def _list_calls(self, params: dict[str, str]) -> Response:
        low, high = _window_params(params)
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
        return lambda i: _as_of(self.account.call(i, include_unknown=unknown, short_urls=short_urls), now)

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
        page = _int_param(params, "page", 1, minimum=1)
        per_page = min(_int_param(params, "per_page", DEFAULT_PER_PAGE, minimum=1), MAX_PER_PAGE)
        if page * per_page > MAX_RESULTS:
            raise BadRequest(CAP_EXCEEDED_BODY)
        order = params.get("order", "asc").lower()
        if order not in ("asc", "desc"):
            raise _bad_parameter("order", "use asc or desc")
        ordered = indexes if order == "asc" else indexes[::-1]
        start = (page - 1) * per_page
        items = [render(i) for i in ordered[start:start + per_page]]
        total = len(indexes)
        if not links:
            meta = {"count": len(items), "total": total, "current_page": page, "per_page": per_page}
            return 200, {plural: items, "meta": meta}, {}
        next_link = previous_link = None
        if page * per_page < total:
            foreign = self._foreign_link_pending()
            next_link = self._link(FOREIGN_HOST if foreign else self.url, path, params, order, page + 1, per_page)
        if page > 1:
            previous_link = self._link(self.url, path, params, order, page - 1, per_page)
        if self._settings.bare_links:
            # The form Aircall's reference documents: no from, to or order in the link.
            next_link = next_link and f"{next_link.split('?')[0]}?page={page + 1}&per_page={per_page}"
            previous_link = previous_link and f"{previous_link.split('?')[0]}?page={page - 1}&per_page={per_page}"
        meta = {
            "count": len(items),
            "total": total,
            "current_page": page,
            "per_page": per_page,
            "next_page_link": next_link,
            "previous_page_link": previous_link,
        }
        return 200, {plural: items, "meta": meta}, {}

    @staticmethod
    def _link(base: str, path: str, params: dict[str, str], order: str, page: int, per_page: int) -> str:
        # Keys sorted like the live links (`?order=asc&page=3&per_page=1`), filters carried over.
        query = {**params, "order": order, "page": str(page), "per_page": str(per_page)}
        return f"{base}{path}?{urlencode(sorted(query.items()))}"


def _as_of(call: dict[str, Any], now: int) -> dict[str, Any]:
    """`call` as the API shows it at `now`: in progress (status `initial` while ringing, `answered`
    once picked up; no end yet), still being rewritten for CALL_REWRITE_SECONDS after it ended, then
    final (`done`). The statuses are the documented ones (https://developer.aircall.io/api-references/,
    "Call": initial, answered, done)."""
    ended = call.get("ended_at")
    if ended is None or now - ended >= CALL_REWRITE_SECONDS:
        return call
    call = dict(call)
    if now < ended:
        answered = call.get("answered_at")
        call["status"] = "answered" if answered is not None and answered <= now else "initial"
        if answered is not None and answered > now:
            call["answered_at"] = None
        call.update(ended_at=None, duration=None, recording=None, voicemail=None, asset=None,
                    missed_call_reason=None, comments=[], tags=[])
    else:
        # Ended, but the recording is still processed and the cost not yet computed.
        call.update(recording=None, asset=None, cost="0.0", tags=[])
    return call


def _json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _int_param(params: dict[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_parameter(name, "expected an integer") from None
    return max(value, minimum)


def _window_params(params: dict[str, str]) -> tuple[int | None, int | None]:
    """`from`/`to` as UNIX seconds. ISO strings are refused (the live API silently misreads them)."""
    bounds = []
    for name in ("from", "to"):
        raw = params.get(name)
        if raw in (None, ""):
            bounds.append(None)
            continue
        try:
            bounds.append(int(raw))
        except ValueError:
            raise _bad_parameter(name, "expected a UNIX timestamp in seconds") from None
    return bounds[0], bounds[1]


def _in_window(moment: int, low: int | None, high: int | None) -> bool:
    return (low is None or moment > low) and (high is None or moment <= high)


def _strip_user(user: dict[str, Any], unknown_fields: bool) -> dict[str, Any]:
    return _without(user, USER_EXTRA_FIELD, unknown_fields)


def _without(record: dict[str, Any], extra_field: str, unknown_fields: bool) -> dict[str, Any]:
    """`record` as served: its unknown extra field only while unknown fields are switched on."""
    if unknown_fields or extra_field not in record:
        return record
    return {k: v for k, v in record.items() if k != extra_field}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer):
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self._open_lock:
            (self._open.add if is_open else self._open.discard)(connection)

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client

    def handle_error(self, request: object, client_address: object) -> None:
        # The default prints the request, whose headers may carry credentials; clients hanging up
        # mid-response are routine and not worth a line at all.
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError):
            sys.stderr.write(f"aircall sandbox: {type(error).__name__} while answering a request\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so pooled clients reach hundreds of requests/s
    server_version = "AircallSandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # with keep-alive, Nagle + delayed ACK costs 40 ms per response
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: access logs would be noise in tests, and nothing here may echo credentials."""

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload, headers = self.server.sandbox.respond(
            self.command, path, query, self.headers.get("Authorization"), body
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        # Headers and body leave in one write, so a response is one segment, not two.
        self._headers_buffer.append(b"\r\n" + payload)
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

