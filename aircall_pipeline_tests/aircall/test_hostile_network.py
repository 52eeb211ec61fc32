"""The client in a hostile network: a proxy in the environment, garbled rate-limit headers.

Real servers on loopback: the sandbox, a scripted stand-in for the API, and a "proxy" that records
whatever reaches it.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aircall_pipeline.aircall import RequestBudget, RetryPolicy
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN


@dataclass
class Recorder:
    """An HTTP server on 127.0.0.1 that records every request line and its headers and answers from
    `script` (status, headers, body), then with `default` once the script is used up."""

    script: list[tuple[int, dict[str, str], dict]] = field(default_factory=list)
    default: tuple[int, dict[str, str], dict] = (502, {}, {"error": "recorder"})
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            with lock:
                rec.seen.append((self.requestline, dict(self.headers)))
                status, headers, payload = rec.script.pop(0) if rec.script else rec.default
            body = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def test_a_proxy_in_the_environment_never_sees_the_loopback_basic_header(serve, connect, recorder, monkeypatch):
    """HTTP_PROXY set, NO_PROXY unset: requests would send the plain-http request, Authorization
    header included, to the proxy. The client goes straight to the loopback API instead."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, recorder.url)
    server = serve()
    client = connect(server)

    assert client.ping()
    assert client.company()["name"]
    assert recorder.seen == []
    basic = base64.b64encode(f"{SANDBOX_API_ID}:{SANDBOX_API_TOKEN}".encode()).decode()
    assert all(basic not in json.dumps(headers) for _, headers in recorder.seen)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_a_non_finite_retry_after_is_treated_as_a_missing_header(recorder, connect, value, caplog):
    recorder.script = [(429, {"Retry-After": value}, {"error": "Too Many Requests"}),
                       (200, {}, {"ping": "pong"})]
    recorder.default = (500, {}, {})
    budget = RequestBudget.from_url("memory://", per_minute=1000, window_seconds=1)
    retry = RetryPolicy(window_seconds=0.05, jitter_fraction=0.0, max_rate_limit_wait=1.0)

    class Api:
        url = recorder.url

    client = connect(Api(), budget=budget, retry=retry)
    with caplog.at_level(logging.WARNING, logger="aircall_pipeline.aircall"):
        assert client.ping() == {"ping": "pong"}
    assert client.stats.totals() == {"requests": 2, "rate_limited": 1, "retries": 1}
    assert "no X-AircallApi-Reset header, so one full" in caplog.text
    budget.close()
