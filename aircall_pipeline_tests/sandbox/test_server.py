"""The sandbox server over real HTTP: pagination, windows, the 10k cap, auth, rate limit, faults, stats."""

from __future__ import annotations

import base64
import http.client
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from aircall_pipeline.sandbox.data import (
    CALL_EXTRA_FIELD,
    URL_SECRET_PREFIX,
    USER_EXTRA_FIELD,
    WEBHOOK_EXTRA_FIELD,
    WEBHOOK_TOKEN_PREFIX,
    SandboxAccount,
)
from aircall_pipeline.sandbox.server import (
    CAP_EXCEEDED_BODY,
    SANDBOX_API_ID,
    SANDBOX_API_TOKEN,
    SandboxServer,
)
from aircall_pipeline_tests.fixtures.sandbox import sandbox_env

ANCHOR = date(2026, 3, 15)
UNLIMITED = 1_000_000  # a rate limit no test reaches unless it means to


@pytest.fixture(scope="module")
def account() -> SandboxAccount:
    return SandboxAccount(anchor=ANCHOR, calls=600)


@pytest.fixture
def server(make_sandbox: Callable[..., SandboxServer], account: SandboxAccount) -> SandboxServer:
    return make_sandbox(account=account, rate_limit=UNLIMITED)


@pytest.fixture
def api() -> requests.Session:
    session = requests.Session()
    session.auth = (SANDBOX_API_ID, SANDBOX_API_TOKEN)
    return session


def walk(api: requests.Session, url: str, plural: str, **params: object) -> tuple[list[dict], list[dict]]:
    """Follow next_page_link to the end; return (items, metas)."""
    items, metas = [], []
    response = api.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body[plural]
        metas.append(body["meta"])
        next_link = body["meta"]["next_page_link"]
        if next_link is None:
            return items, metas
        response = api.get(next_link)


# ------------------------------------------------------------------------------ pagination


@pytest.mark.parametrize(
    ("path", "plural", "expected"),
    [
        ("/v2/users", "users", lambda a: [u["id"] for u in a.users]),
        ("/v1/teams", "teams", lambda a: [t["id"] for t in a.teams]),
        ("/v1/numbers", "numbers", lambda a: [n["id"] for n in a.numbers]),
        ("/v1/calls", "calls", lambda a: [a.call(i)["id"] for i in range(a.call_count)]),
    ],
)
def test_every_list_endpoint_walks_to_the_end_with_absolute_links(
    server: SandboxServer, api: requests.Session, account: SandboxAccount, path: str, plural: str, expected
) -> None:
    for per_page in (7, 50):
        items, metas = walk(api, server.url + path, plural, per_page=per_page)
        assert [item["id"] for item in items] == expected(account)
        assert {meta["total"] for meta in metas} == {len(items)}
        assert [meta["current_page"] for meta in metas] == list(range(1, len(metas) + 1))
        assert sum(meta["count"] for meta in metas) == len(items)
        assert metas[0]["previous_page_link"] is None
        for meta in metas:
            for link in (meta["next_page_link"], meta["previous_page_link"]):
                if link:
                    assert link.startswith(server.url + path + "?")
                    assert parse_qs(urlsplit(link).query)["order"] == ["asc"]


def test_per_page_defaults_to_20_and_is_clamped_to_50(server: SandboxServer, api: requests.Session) -> None:
    assert api.get(server.url + "/v1/calls").json()["meta"]["per_page"] == 20
    meta = api.get(server.url + "/v1/calls", params={"per_page": 51}).json()["meta"]
    assert meta["per_page"] == 50 and meta["count"] == 50
    assert "per_page=50" in meta["next_page_link"]


def test_team_list_embeds_members_and_number_detail_adds_users(
    server: SandboxServer, api: requests.Session, account: SandboxAccount
) -> None:
    team = api.get(server.url + "/v1/teams").json()["teams"][0]
    assert team["users"] and "available" not in team["users"][0] and "availability_status" in team["users"][0]
    detail = api.get(f"{server.url}/v1/teams/{team['id']}").json()["team"]
    assert [u["id"] for u in detail["users"]] == [u["id"] for u in team["users"]]
    number = api.get(server.url + "/v1/numbers").json()["numbers"][0]
    assert "users" not in number
    assert api.get(f"{server.url}/v1/numbers/{number['id']}").json()["number"]["users"]


def test_single_objects_and_unknown_ids(server: SandboxServer, api: requests.Session, account: SandboxAccount) -> None:
    user = account.users[3]
    assert api.get(f"{server.url}/v2/users/{user['id']}").json() == {"user": user}
    assert api.get(f"{server.url}/v2/users/{user['email']}").json() == {"user": user}
    call = account.call(10)
    assert api.get(f"{server.url}/v1/calls/{call['id']}").json() == {"call": call}
    for path in ("/v2/users/1", "/v1/teams/1", "/v1/numbers/1", "/v1/calls/1"):
        response = api.get(server.url + path)
        assert response.status_code == 404 and response.json()["error"] == "Not found"
    assert api.get(server.url + "/v1/ping").json() == {"ping": "pong"}
    assert api.get(server.url + "/v1/company").json() == {"company": account.company()}
    assert "resource" in api.get(server.url + "/").json()


def test_unknown_path_is_404_and_v1_users_is_gone(server: SandboxServer, api: requests.Session) -> None:
    response = api.get(server.url + "/v1/nothing-here")
    assert response.status_code == 404 and response.json() == {"message": "Not Found"}
    for path in ("/v1/users", "/v1/users/123"):
        response = api.get(server.url + path)
        assert response.status_code == 410 and "/v2/users" in response.json()["troubleshoot"]


# ------------------------------------------------------------------------------ webhooks


def test_webhooks_page_by_number_with_no_link_keys(
    server: SandboxServer, api: requests.Session, account: SandboxAccount
) -> None:
    items, metas = [], []
    for page in (1, 2, 3):
        body = api.get(server.url + "/v1/webhooks", params={"per_page": 4, "page": page}).json()
        items += body["webhooks"]
        metas.append(body["meta"])
    # The live list's meta: counts only, no next/previous link at all (not even null).
    assert all(set(meta) == {"count", "total", "current_page", "per_page"} for meta in metas)
    assert [(m["count"], m["total"], m["current_page"]) for m in metas] == [(4, 6, 1), (2, 6, 2), (0, 6, 3)]
    assert [w["webhook_id"] for w in items] == [w["webhook_id"] for w in account.webhooks]


def test_webhooks_carry_a_plain_text_token_and_secrets_in_their_urls(
    server: SandboxServer, api: requests.Session, account: SandboxAccount
) -> None:
    webhooks = api.get(server.url + "/v1/webhooks", params={"per_page": 50}).json()["webhooks"]
    assert len(webhooks) == 6
    for w in webhooks:
        assert {"id", "webhook_id", "direct_link", "url", "active", "events", "token", "created_at"} <= set(w)
        assert isinstance(w["id"], int) and uuid.UUID(w["webhook_id"]).version == 4
        assert w["direct_link"].endswith(w["webhook_id"]) and w["created_at"].endswith("Z")
        assert w["token"].startswith(WEBHOOK_TOKEN_PREFIX)
    urls = [urlsplit(w["url"]) for w in webhooks]
    assert [u.scheme for u in urls].count("http") == 1
    assert [w["active"] for w in webhooks].count(False) == 1
    assert any(w["events"] == [] and w["active"] for w in webhooks)  # subscribed to every event
    # The credentials real integrations put in their URLs: in the path, the query and the userinfo.
    assert any(URL_SECRET_PREFIX in u.path for u in urls) and any(URL_SECRET_PREFIX in u.query for u in urls)
    assert any((u.password or "").startswith(URL_SECRET_PREFIX) and u.port == 8443 for u in urls)
    assert set(account.webhook_secrets()) == {w["token"] for w in webhooks} | {
        secret for u in urls for secret in re.findall(URL_SECRET_PREFIX + "[0-9a-f]+", u.geturl())}


def test_webhooks_phantom_total_and_unknown_field(server: SandboxServer, api: requests.Session) -> None:
    def first_page() -> dict:
        return api.get(server.url + "/v1/webhooks", params={"per_page": 50}).json()

    assert any(WEBHOOK_EXTRA_FIELD in w for w in first_page()["webhooks"])
    server.control(phantom_webhooks=3, unknown_fields=False)
    body = first_page()
    assert (body["meta"]["count"], body["meta"]["total"]) == (6, 9)
    assert not any(WEBHOOK_EXTRA_FIELD in w for w in body["webhooks"])


# ------------------------------------------------------------------------------ call windows


def test_calls_window_is_from_exclusive_to_inclusive(
    server: SandboxServer, api: requests.Session, account: SandboxAccount
) -> None:
    moment = account.call_started_at(100)
    ids_at_moment = {account.call(i)["id"] for i in range(account.call_count) if account.call_started_at(i) == moment}
    after = walk(api, server.url + "/v1/calls", "calls", per_page=50, **{"from": moment, "to": moment + 3600})[0]
    upto = walk(api, server.url + "/v1/calls", "calls", per_page=50, **{"from": moment - 3600, "to": moment})[0]
    assert not ids_at_moment & {c["id"] for c in after}
    assert ids_at_moment <= {c["id"] for c in upto}
    assert all(moment < c["started_at"] <= moment + 3600 for c in after)


def test_windows_tile_the_history_and_links_carry_the_filters(
    server: SandboxServer, api: requests.Session, account: SandboxAccount
) -> None:
    start = int(datetime.combine(account.first_day, datetime.min.time(), UTC).timestamp()) - 1
    edges = [start + k * 86400 * 3 for k in range(11)]
    seen: list[int] = []
    for low, high in zip(edges, edges[1:], strict=False):
        items, metas = walk(api, server.url + "/v1/calls", "calls", per_page=20, **{"from": low, "to": high})
        seen += [c["id"] for c in items]
        for meta in metas:
            if meta["next_page_link"]:
                query = parse_qs(urlsplit(meta["next_page_link"]).query)
                assert query["from"] == [str(low)] and query["to"] == [str(high)]
    assert seen == [account.call(i)["id"] for i in range(account.call_count)]


def test_order_desc_reverses(server: SandboxServer, api: requests.Session, account: SandboxAccount) -> None:
    items, metas = walk(api, server.url + "/v1/calls", "calls", per_page=50, order="desc")
    assert [c["id"] for c in items] == [account.call(i)["id"] for i in reversed(range(account.call_count))]
    assert "order=desc" in metas[0]["next_page_link"]


def test_iso_timestamps_are_refused(server: SandboxServer, api: requests.Session) -> None:
    response = api.get(server.url + "/v1/calls", params={"from": "2026-03-01T00:00:00Z"})
    assert response.status_code == 400 and "from" in response.json()["troubleshoot"]


# ---------------------------------------------------------------------------- 10,000 cap


@pytest.mark.parametrize(("page", "per_page"), [(201, 50), (10_001, 1), (501, 20), (300, 100)])
def test_pages_past_10k_results_get_the_documented_400(
    server: SandboxServer, api: requests.Session, page: int, per_page: int
) -> None:
    for path in ("/v1/calls", "/v1/teams"):
        response = api.get(server.url + path, params={"page": page, "per_page": per_page})
        assert response.status_code == 400
        assert response.json() == CAP_EXCEEDED_BODY


def test_the_last_page_inside_the_cap_is_served(server: SandboxServer, api: requests.Session) -> None:
    response = api.get(server.url + "/v1/calls", params={"page": 200, "per_page": 50})
    assert response.status_code == 200 and response.json()["calls"] == []


# ---------------------------------------------------------------------------------- auth


def test_missing_credentials_401_wrong_credentials_403(server: SandboxServer) -> None:
    url = server.url + "/v1/ping"
    assert (requests.get(url).status_code, requests.get(url).json()) == (401, {"message": "Unauthorized"})
    wrong = requests.get(url, auth=(SANDBOX_API_ID, "not-the-token"))
    assert (wrong.status_code, wrong.json()) == (403, {"message": "Forbidden"})
    assert requests.get(url, headers={"Authorization": "Bearer abc"}).status_code == 403
    assert requests.get(url, headers={"Authorization": "Basic !!!"}).status_code == 403


def test_custom_credentials(make_sandbox: Callable[..., SandboxServer], account: SandboxAccount) -> None:
    server = make_sandbox(account=account, api_id="id-1", api_token="tok-1")  # noqa: S106 - a test credential
    assert requests.get(server.url + "/v1/ping", auth=("id-1", "tok-1")).status_code == 200
    assert requests.get(server.url + "/v1/ping", auth=(SANDBOX_API_ID, SANDBOX_API_TOKEN)).status_code == 403


# ---------------------------------------------------------------------------- rate limit


def _burst(api: requests.Session, url: str, count: int) -> list[requests.Response]:
    return [api.get(url) for _ in range(count)]


@pytest.mark.parametrize("unit", ["seconds", "milliseconds", "none"])
def test_rate_limit_answers_429_with_headers(
    make_sandbox: Callable[..., SandboxServer], account: SandboxAccount, api: requests.Session, unit: str
) -> None:
    # A 2 s window: 12 quick requests cannot spread over three windows even on a loaded machine.
    server = make_sandbox(account=account, rate_limit=5, window_seconds=2, reset_header=unit)
    responses = _burst(api, server.url + "/v1/ping", 12)
    limited = [r for r in responses if r.status_code == 429]
    assert limited and all(r.status_code in (200, 429) for r in responses)
    assert all("X-AircallApi-Limit" not in r.headers for r in responses if r.status_code == 200)
    first = limited[0]
    assert first.headers["X-AircallApi-Limit"] == "5" and first.headers["X-AircallApi-Remaining"] == "0"
    assert "troubleshoot" in first.json()
    now = time.time()
    if unit == "none":
        assert "X-AircallApi-Reset" not in first.headers
    else:
        reset = int(first.headers["X-AircallApi-Reset"]) / (1000 if unit == "milliseconds" else 1)
        assert now - 2 <= reset <= now + 3
    stats = server.stats()
    assert stats["rate_limited"] == len(limited) and stats["max_in_window"] <= 5
    # The admitted requests, counted in the server's own windows (window start -> count).
    assert sum(stats["by_window"].values()) == len(responses) - len(limited)
    assert all(float(start) % 2 == 0 and n <= 5 for start, n in stats["by_window"].items())
    # The busy span covers the admitted requests only, on the server's clock.
    assert stats["first_admitted_at"] <= stats["last_admitted_at"] <= now
    time.sleep(2 - time.time() % 2 + 0.05)  # into the next window
    assert api.get(server.url + "/v1/ping").status_code == 200
    assert server.stats()["last_admitted_at"] > now


def test_rate_limit_does_not_apply_to_sandbox_hooks(
    make_sandbox: Callable[..., SandboxServer], account: SandboxAccount
) -> None:
    server = make_sandbox(account=account, rate_limit=1, window_seconds=60)
    for _ in range(5):
        assert requests.get(server.url + "/sandbox/stats").status_code == 200
    assert server.stats()["requests"] == 0


# -------------------------------------------------------------------------------- faults


def test_fail_5xx_next(server: SandboxServer, api: requests.Session) -> None:
    server.control(fail_5xx_next=2)
    statuses = [api.get(server.url + "/v1/ping").status_code for _ in range(3)]
    assert statuses == [503, 502, 200]
    assert server.stats()["errors_injected"] == 2


def test_fail_5xx_rate_is_seeded(make_sandbox: Callable[..., SandboxServer], account: SandboxAccount,
                                 api: requests.Session) -> None:
    runs = []
    for _ in range(2):
        server = make_sandbox(account=account, rate_limit=UNLIMITED, fail_5xx_rate=0.5, fault_seed=3)
        runs.append([api.get(server.url + "/v1/ping").status_code for _ in range(20)])
    assert runs[0] == runs[1] and {200, 503} == set(runs[0])


def test_revoke_after(server: SandboxServer, api: requests.Session) -> None:
    server.control(revoke_after=3)
    statuses = [api.get(server.url + "/v1/company").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 401, 401]
    assert api.get(server.url + "/v1/ping").json() == {"message": "Unauthorized"}


def test_malformed_json_next(server: SandboxServer, api: requests.Session) -> None:
    server.control(malformed_json_next=1)
    broken = api.get(server.url + "/v2/users")
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.text)
    assert api.get(server.url + "/v2/users").json()["users"]


def test_foreign_next_link(server: SandboxServer, api: requests.Session) -> None:
    server.control(foreign_next_link=True)
    meta = api.get(server.url + "/v1/calls").json()["meta"]
    assert urlsplit(meta["next_page_link"]).hostname == "evil.example.test"
    assert api.get(server.url + "/v1/calls").json()["meta"]["next_page_link"].startswith(server.url)


def test_unknown_fields_toggle(server: SandboxServer, api: requests.Session) -> None:
    def extras() -> tuple[bool, bool]:
        users = api.get(server.url + "/v2/users", params={"per_page": 50}).json()["users"]
        calls = api.get(server.url + "/v1/calls", params={"per_page": 50}).json()["calls"]
        return any(USER_EXTRA_FIELD in u for u in users), any(CALL_EXTRA_FIELD in c for c in calls)

    assert extras() == (True, True)
    server.control(unknown_fields=False)
    assert extras() == (False, False)


def test_latency(server: SandboxServer, api: requests.Session) -> None:
    server.control(latency_ms=150)
    began = time.perf_counter()
    api.get(server.url + "/v1/ping")
    assert time.perf_counter() - began >= 0.15


def test_control_over_http(server: SandboxServer, api: requests.Session) -> None:
    response = requests.post(server.url + "/sandbox/control", json={"fail_5xx_next": 1})
    assert response.status_code == 200 and response.json()["fail_5xx_next"] == 1
    assert api.get(server.url + "/v1/ping").status_code == 503
    assert requests.get(server.url + "/sandbox/control").json()["fail_5xx_next"] == 0
    refused = requests.post(server.url + "/sandbox/control", json={"no_such_fault": 1})
    assert refused.status_code == 400 and "no_such_fault" in refused.json()["troubleshoot"]
    with pytest.raises(ValueError):
        server.control(fail_5xx_rate=2.0)


# --------------------------------------------------------------------------------- stats


def test_stats_count_requests_duplicates_and_reset(server: SandboxServer, api: requests.Session) -> None:
    api.get(server.url + "/v1/calls", params={"page": 1})
    api.get(server.url + "/v1/calls", params={"page": 1})
    api.get(server.url + "/v1/calls", params={"page": 2})
    api.get(server.url + "/v1/calls/1")
    requests.get(server.url + "/v1/ping")
    stats = requests.get(server.url + "/sandbox/stats").json()
    assert stats["requests"] == 5 and stats["duplicates"] == 1
    assert stats["by_endpoint"] == {"/v1/calls": 3, "/v1/calls/:id": 1, "/v1/ping": 1}
    assert stats["max_in_window"] == 4  # the 401 is not admitted to the rate window
    assert requests.post(server.url + "/sandbox/reset").json()["requests"] == 0
    api.get(server.url + "/v1/calls", params={"page": 1})
    assert server.stats()["duplicates"] == 0


def test_keeps_connections_alive(server: SandboxServer) -> None:
    """HTTP/1.1 keep-alive: 200 pages over one socket (what lets the sandbox serve hundreds of requests a
    second; its throughput is measured by the benchmarks, not timed here)."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    auth = "Basic " + base64.b64encode(f"{SANDBOX_API_ID}:{SANDBOX_API_TOKEN}".encode()).decode()
    conn = http.client.HTTPConnection(host, port, timeout=10)
    sockets = set()
    try:
        for page in range(1, 201):
            conn.request("GET", f"/v1/calls?page={page % 12 + 1}&per_page=50", headers={"Authorization": auth})
            response = conn.getresponse()
            response.read()
            assert response.status == 200 and not response.will_close, f"page {page}: the server closes"
            sockets.add(id(conn.sock))
        assert len(sockets) == 1
    finally:
        conn.close()


def test_stop_closes_keep_alive_connections(account: SandboxAccount, api: requests.Session) -> None:
    server = SandboxServer(account).start()
    url = server.url
    assert api.get(url + "/v1/ping").status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        api.get(url + "/v1/ping", timeout=2)


def test_refuses_to_bind_beyond_loopback(account: SandboxAccount) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SandboxServer(account, host="0.0.0.0")


def test_a_busy_day_reports_its_full_total_beyond_10k(
    make_sandbox: Callable[..., SandboxServer], api: requests.Session
) -> None:
    server = make_sandbox(calls=30_000, busy_day_calls=15_000, anchor=ANCHOR, rate_limit=UNLIMITED)
    day_start = int(datetime(2026, 3, 14, tzinfo=UTC).timestamp())
    window = {"from": day_start - 1, "to": day_start + 86399}
    meta = api.get(server.url + "/v1/calls", params={**window, "per_page": 1}).json()["meta"]
    assert meta["total"] > 10_000
    assert api.get(server.url + "/v1/calls", params={**window, "per_page": 50, "page": 201}).status_code == 400


def test_credentials_never_reach_the_output(server: SandboxServer, capfd: pytest.CaptureFixture[str]) -> None:
    secret = "a-token-that-must-not-leak"  # noqa: S105 - a test value
    requests.get(server.url + "/v1/ping", auth=(SANDBOX_API_ID, secret))
    requests.get(server.url + "/v1/calls?page=x", auth=(SANDBOX_API_ID, secret))
    captured = capfd.readouterr()
    assert secret not in captured.out + captured.err


def test_default_fixture_and_env_helper(sandbox: SandboxServer) -> None:
    env = sandbox_env(sandbox)
    response = requests.get(env["AIRCALL_API_URL"] + "/v1/ping", auth=(env["AIRCALL_API_ID"], env["AIRCALL_API_TOKEN"]))
    assert response.json() == {"ping": "pong"}
    assert sandbox.settings()["rate_limit"] == 60
