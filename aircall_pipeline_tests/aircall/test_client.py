"""AircallClient against the sandbox over real HTTP: pagination, windows, faults, typed errors."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from aircall_pipeline import __version__
from aircall_pipeline.aircall import (
    NEW_KEY_ADVICE,
    AircallAuthError,
    AircallRateLimitError,
    AircallRequestError,
    AircallResponseError,
    AircallServerError,
    RetryPolicy,
)
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.server import FOREIGN_HOST

from .conftest import FAST_RETRY, record_urls


def day_start(day) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def expected_call_ids(account: SandboxAccount, start: datetime, end: datetime) -> list[int]:
    lo, hi = int(start.timestamp()), int(end.timestamp())
    return [account.call(i)["id"] for i in account.call_range(lo - 1, hi - 1)]


def pages_requested(urls: list[str]) -> list[int]:
    return [int(parse_qs(urlsplit(u).query).get("page", ["1"])[0]) for u in urls]


# -- pagination -------------------------------------------------------------------------------


def test_every_endpoint_pages_to_the_last_record(serve, connect):
    account = SandboxAccount(users=120, teams=60, numbers=70, calls=3000, days=10)
    server = serve(account)
    client = connect(server)
    sent = record_urls(client)

    assert client.ping() == {"ping": "pong"}
    assert client.company()["users_count"] == 120
    assert sorted(u["id"] for u in client.iter_users()) == sorted(u["id"] for u in account.users)
    teams = list(client.iter_teams())
    assert sorted(t["id"] for t in teams) == sorted(t["id"] for t in account.teams)
    numbers = list(client.iter_numbers())
    assert sorted(n["id"] for n in numbers) == sorted(n["id"] for n in account.numbers)
    detailed = client.number(numbers[0]["id"])
    assert detailed["id"] == numbers[0]["id"] and isinstance(detailed["users"], list)

    start = day_start(account.first_day)
    end = day_start(account.anchor)
    calls = [call for page in client.iter_call_pages(start, end) for call in page]
    assert [c["id"] for c in calls] == expected_call_ids(account, start, end)
    assert all(w.complete for w in client.call_windows)

    # per_page=50 everywhere: 3 pages of users, 2 of teams, 2 of numbers, 60 of calls.
    stats = client.stats.as_dict()
    assert stats["/v2/users"]["requests"] == 3
    assert stats["/v1/teams"]["requests"] == 2
    assert stats["/v1/numbers"]["requests"] == 2
    assert stats["/v1/numbers/:id"]["requests"] == 1
    assert stats["/v1/calls"]["requests"] == 60
    assert client.stats.totals() == {"requests": 70, "rate_limited": 0, "retries": 0}
    assert server.stats()["duplicates"] == 0
    assert all("per_page=50" in u for u in sent if "/v1/ping" not in u and "/v1/company" not in u and "numbers/" not in u)


def test_a_day_over_10000_calls_comes_back_whole_without_passing_the_cap(serve, connect):
    account = SandboxAccount(calls=30_000, busy_day_calls=11_000, days=10)
    server = serve(account)
    client = connect(server)
    sent = record_urls(client)
    busy = day_start(account.busy_day)
    end = busy + timedelta(days=1)

    ids = [call["id"] for page in client.iter_call_pages(busy, end) for call in page]

    expected = expected_call_ids(account, busy, end)
    assert len(expected) > 10_000
    assert ids == expected  # every call, in order, once
    assert len(client.call_windows) >= 2
    assert all(w.meta_total < 10_000 and w.complete for w in client.call_windows)
    assert sum(w.fetched for w in client.call_windows) == len(expected)
    assert client.call_windows[0].from_ts == int(busy.timestamp()) - 1
    assert client.call_windows[-1].to_ts == int(end.timestamp()) - 1
    assert max(pages_requested(sent)) <= 200
    stats = server.stats()
    assert "400" not in stats["by_status"] and stats["duplicates"] == 0


def test_a_whole_history_of_30000_calls(serve, connect):
    account = SandboxAccount(calls=30_000, busy_day_calls=11_000, days=10)
    client = connect(serve(account))
    start, end = day_start(account.first_day), day_start(account.anchor)
    ids = [call["id"] for page in client.iter_call_pages(start, end) for call in page]
    assert len(ids) == len(set(ids)) == 30_000
    assert all(w.complete for w in client.call_windows)


def test_an_empty_range_yields_nothing(serve, connect):
    account = SandboxAccount(calls=10, days=3)
    client = connect(serve(account))
    start = day_start(account.anchor) + timedelta(days=5)
    assert list(client.iter_call_pages(start, start + timedelta(days=1))) == []
    assert [(w.meta_total, w.fetched) for w in client.call_windows] == [(0, 0)]


# -- 429 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset_header", ["seconds", "milliseconds", "none"])
def test_429_storms_are_waited_out_and_lose_nothing(serve, connect, reset_header, caplog):
    account = SandboxAccount(users=60, calls=600, days=3)
    # A tiny company budget in a compressed window, and a client that does not pace itself.
    server = serve(account, rate_limit=4, window_seconds=1, reset_header=reset_header)
    client = connect(server, retry=RetryPolicy(window_seconds=1, jitter_fraction=0.05, backoff_base=0.01))
    caplog.set_level(logging.WARNING, logger="aircall_pipeline.aircall")

    users = list(client.iter_users())
    start, end = day_start(account.first_day), day_start(account.anchor)
    calls = [c["id"] for page in client.iter_call_pages(start, end) for c in page]

    assert len(users) == 60
    assert calls == expected_call_ids(account, start, end)
    assert client.stats.totals()["rate_limited"] == server.stats()["rate_limited"] > 0
    assert server.stats()["duplicates"] == 0
    waits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("429 from")]
    assert waits and all("shared with every integration" in w for w in waits)
    expected_reason = "no X-AircallApi-Reset header" if reset_header == "none" else "until X-AircallApi-Reset"
    assert all(expected_reason in w for w in waits)


def test_429_beyond_the_bounded_wait_raises_with_the_reset_time(serve, connect, tmp_path, budgets):
    server = serve(rate_limit=1, window_seconds=30)
    budget = budgets(f"sqlite:///{tmp_path}/limiter.sqlite", per_minute=100, window_seconds=30)
    other_process = budgets(f"sqlite:///{tmp_path}/limiter.sqlite", per_minute=100, window_seconds=30)
    client = connect(server, budget=budget, retry=RetryPolicy(max_rate_limit_wait=1))
    with pytest.raises(AircallRateLimitError) as caught:
        for _ in range(3):  # one request per 30 s window: at most two pass, even across a boundary
            client.ping()
    error = caught.value
    assert error.status == 429 and error.endpoint == "/v1/ping"
    assert not error.headers, "the give-up error is not a response: it has no headers to retry on"
    assert error.reset_at is not None and error.reset_at_iso
    assert "shared with every integration" in str(error)
    # The reset was written where every process sharing the budget reads it.
    assert other_process.paused_until() == pytest.approx(error.reset_at)


# -- auth and other 4xx -----------------------------------------------------------------------


def test_a_key_revoked_mid_sync_fails_at_once_with_the_advice(serve, connect):
    account = SandboxAccount(calls=2000, days=5)
    server = serve(account, revoke_after=3)
    client = connect(server)
    start, end = day_start(account.first_day), day_start(account.anchor)
    pages = client.iter_call_pages(start, end)
    next(pages)
    next(pages)
    with pytest.raises(AircallAuthError) as caught:
        list(pages)
    assert NEW_KEY_ADVICE in str(caught.value)
    assert caught.value.status == 401
    assert server.stats()["by_status"].get("401") == 1  # not retried
    assert client.stats.totals()["retries"] == 0


def test_a_wrong_key_is_a_403_auth_error(serve, connect):
    client = connect(serve(), api_token="not-the-token")  # noqa: S106
    with pytest.raises(AircallAuthError, match="HTTP 403"):
        client.company()


def test_other_4xx_carry_the_api_text(serve, connect):
    client = connect(serve())
    with pytest.raises(AircallRequestError) as caught:
        client._get("/v1/users")  # retired: the sandbox answers 410 like the live API
    assert caught.value.status == 410 and "v2/users" in str(caught.value)
    with pytest.raises(AircallRequestError, match="Id does not exist"):
        client.number(1)


# -- transient failures -----------------------------------------------------------------------


def test_5xx_bursts_are_retried(serve, connect):
    server = serve(SandboxAccount(users=70), fail_5xx_next=4)
    client = connect(server)
    assert len(list(client.iter_users())) == 70
    assert client.stats.as_dict()["/v2/users"] == {"requests": 6, "rate_limited": 0, "retries": 4}


def test_5xx_beyond_the_retries_is_a_server_error(serve, connect):
    server = serve(fail_5xx_next=10)
    client = connect(server, retry=RetryPolicy(max_retries=2, backoff_base=0.01))
    with pytest.raises(AircallServerError) as caught:
        client.ping()
    assert caught.value.status in (502, 503) and "gave up after 3 attempts" in str(caught.value)
    assert caught.value.attempts == 3 and caught.value.retryable and caught.value.reason is None


def test_an_unreachable_api_is_a_server_error_without_status(connect):
    class Closed:
        url = "http://127.0.0.1:9"  # discard port: nothing listens

    client = connect(Closed(), retry=RetryPolicy(max_retries=1, backoff_base=0.01), timeout=(1, 1))
    with pytest.raises(AircallServerError) as caught:
        client.ping()
    assert caught.value.status is None and "could not reach http://127.0.0.1:9" in str(caught.value)
    # What the network said is an attribute of its own: no reader has to cut it out of the message.
    assert caught.value.reason.startswith("ConnectionError: ") and caught.value.reason in str(caught.value)
    assert caught.value.attempts == 2


def test_a_truncated_body_is_retried_then_reported(serve, connect):
    server = serve(SandboxAccount(users=70), malformed_json_next=1)
    client = connect(server)
    assert len(list(client.iter_users())) == 70
    assert client.stats.totals()["retries"] == 1

    server.control(malformed_json_next=5)
    with pytest.raises(AircallResponseError, match="malformed JSON"):
        client.company()


def test_a_next_page_link_to_another_host_is_refused(serve, connect):
    server = serve(SandboxAccount(users=120), foreign_next_link=True)
    client = connect(server)
    sent = record_urls(client)
    with pytest.raises(AircallResponseError) as caught:
        list(client.iter_users())
    assert urlsplit(FOREIGN_HOST).hostname in str(caught.value)
    assert "not followed" in str(caught.value)
    assert all(urlsplit(u).netloc == urlsplit(server.url).netloc for u in sent)


# -- the wire -----------------------------------------------------------------------------------


def test_user_agent_basic_auth_and_timeouts(serve, connect):
    server = serve()
    client = connect(server)
    seen = []
    client._session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request.headers))
    client.ping()
    assert seen[0]["User-Agent"] == f"aircall_pipeline/{__version__} (+python-requests)"
    assert seen[0]["Authorization"].startswith("Basic ")
    assert client.timeout == (5.0, 30.0)


def test_repr_shows_url_and_id_only(serve, connect):
    server = serve()
    client = connect(server)
    assert repr(client) == f"AircallClient(api_url='{server.url}', api_id='sandbox-api-id')"


def test_plain_http_to_a_remote_host_is_refused():
    from aircall_pipeline.aircall import AircallClient

    with pytest.raises(ValueError, match="unencrypted"):
        AircallClient("id", "token", api_url="http://api.example.com")
    with pytest.raises(ValueError, match="credentials"):
        AircallClient("id", "token", api_url="https://user:pw@api.aircall.io")


def test_fast_retry_is_what_these_tests_use():
    assert FAST_RETRY.backoff_cap < 1


def test_a_tls_failure_is_reported_at_once_not_retried(serve, connect):
    server = serve()

    class TlsToPlainHttp:
        url = server.url.replace("http://", "https://")  # the sandbox speaks plain HTTP

    client = connect(TlsToPlainHttp())
    with pytest.raises(AircallServerError, match="TLS failed") as caught:
        client.ping()
    assert caught.value.status is None
    assert client.stats.totals() == {"requests": 1, "rate_limited": 0, "retries": 0}


@contextmanager
def json_api(respond):
    """A bare API on loopback: `respond(page, per_page)` gives the JSON body of each GET. Yields what
    `connect` takes (an object with `.url`)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            query = parse_qs(urlsplit(self.path).query)
            body = json.dumps(respond(int(query["page"][0]), int(query["per_page"][0]))).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_pages_by_counts_when_meta_has_no_link_keys(connect):
    """Some endpoints (e.g. /v1/webhooks) omit next_page_link altogether: page by total instead."""

    def teams(page, per_page):
        ids = list(range(1, 121))[(page - 1) * per_page : page * per_page]
        return {"teams": [{"id": i} for i in ids], "meta": {"total": 120, "per_page": per_page, "current_page": page}}

    with json_api(teams) as api:
        client = connect(api)
        assert [t["id"] for t in client.iter_teams()] == list(range(1, 121))
        assert client.stats.as_dict()["/v1/teams"]["requests"] == 3


# -- webhooks: a list whose meta has no links --------------------------------------------------


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (6, 1), (50, 1), (57, 2), (100, 2)])
def test_webhooks_are_paged_by_counts_never_by_links(serve, connect, count, pages):
    account = SandboxAccount(calls=0, webhooks=count)
    server = serve(account)
    client = connect(server)
    sent = record_urls(client)
    webhooks = list(client.iter_webhooks())
    assert [w["webhook_id"] for w in webhooks] == [w["webhook_id"] for w in account.webhooks]
    # Pages asked for by number, on AIRCALL_API_URL only; a full last page (50, 100) is known to be
    # the last from meta.total, so no empty page is requested after it.
    assert [u.split("?")[0] for u in sent] == [server.url + "/v1/webhooks"] * pages
    assert pages_requested(sent) == list(range(1, pages + 1))
    assert all("per_page=50" in u for u in sent)
    assert client.stats.as_dict()["/v1/webhooks"] == {"requests": pages, "rate_limited": 0, "retries": 0}


@pytest.mark.parametrize(("count", "pages"), [(6, 1), (50, 2)])
def test_webhooks_stop_on_a_short_or_empty_page_when_the_total_overcounts(serve, connect, caplog, count, pages):
    server = serve(SandboxAccount(calls=0, webhooks=count))
    server.control(phantom_webhooks=3)
    client = connect(server)
    caplog.set_level(logging.WARNING, logger="aircall_pipeline.aircall")
    assert len(list(client.iter_webhooks())) == count
    assert client.stats.as_dict()["/v1/webhooks"]["requests"] == pages
    assert any(f"meta.total says {count + 3}" in r.getMessage() for r in caplog.records)


def test_webhooks_go_through_the_budget_retries_and_typed_errors(serve, connect):
    account = SandboxAccount(calls=0, webhooks=100)
    server = serve(account, rate_limit=1, window_seconds=1, fail_5xx_next=1)
    client = connect(server, retry=RetryPolicy(window_seconds=1, jitter_fraction=0.05, backoff_base=0.01))
    assert len(list(client.iter_webhooks())) == 100
    stats = client.stats.as_dict()["/v1/webhooks"]
    assert stats["rate_limited"] > 0 and stats["retries"] >= 2  # the 503 and at least one 429
    assert server.stats()["duplicates"] == 0

    wrong = connect(serve(account), api_token="wrong-token")
    with pytest.raises(AircallAuthError, match="Integrations & API") as caught:
        list(wrong.iter_webhooks())
    assert caught.value.endpoint == "/v1/webhooks"


def test_webhooks_answered_with_the_wrong_page_stop_with_a_response_error(connect):
    """An API that keeps answering page 1 would otherwise be asked for page 2 forever."""

    def stuck_on_page_one(page, per_page):
        items = [{"webhook_id": f"w{i}"} for i in range(50)]
        return {"webhooks": items, "meta": {"count": 50, "total": 120, "current_page": 1, "per_page": 50}}

    with json_api(stuck_on_page_one) as api:
        client = connect(api)
        with pytest.raises(AircallResponseError, match="answered page 1 of /v1/webhooks when asked for page 2"):
            list(client.iter_webhooks())
        assert client.stats.as_dict()["/v1/webhooks"]["requests"] == 2


def test_error_facts_are_declared_attributes_with_defaults():
    """`retryable` and `headers` exist on every AircallError, so the retry loop reads them directly."""
    from aircall_pipeline.aircall.errors import AircallError

    plain = AircallAuthError("no", status=401)
    assert plain.retryable is False and plain.headers == {}
    limited = AircallRateLimitError("429", retryable=True, headers={"Retry-After": "5"}, reset_at=1.0)
    assert limited.retryable and limited.headers == {"Retry-After": "5"} and isinstance(limited, AircallError)
    assert AircallServerError("down").reason is None and AircallServerError("down").attempts == 1
