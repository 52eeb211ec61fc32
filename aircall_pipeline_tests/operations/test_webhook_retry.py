"""The webhook sink's retries (urllib3's Retry on a requests Session), against a real HTTP server on
loopback that fails, then succeeds: how many attempts, how long between them, which answers are retried,
and what the alert outcome says when delivery gives up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aircall_pipeline.operations.alerts import Alert, WebhookSink, send_alert


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering: longer than the sink's timeout is a read timeout


@dataclass
class FlakyReceiver:
    """Answers each POST with the next scripted `Answer` (then 200), noting when each arrived."""

    url: str = ""
    script: list[Answer] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


@pytest.fixture
def receiver(alert_env: None) -> Iterator[FlakyReceiver]:
    flaky = FlakyReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with flaky.lock:
                flaky.arrivals.append(time.monotonic())
                answer = flaky.script.pop(0) if flaky.script else Answer()
            time.sleep(answer.delay)
            body = b'{"ok": true}'
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting (the read-timeout case)
                pass

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    flaky.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield flaky
    finally:
        server.shutdown()
        server.server_close()


def _alert() -> Alert:
    return Alert(title="Aircall evidence run failed", severity="critical", kind="auth", text="t", run_id="r-1")


def test_fails_then_succeeds_with_doubling_backoff(receiver):
    receiver.script = [Answer(503), Answer(429)]
    outcome = send_alert(_alert(), sinks=[WebhookSink(receiver.url, attempts=3, backoff_seconds=0.2)])
    assert outcome["webhook"] == "sent"
    assert len(receiver.arrivals) == 3
    first, second = receiver.gaps()
    # backoff x 1 before the 2nd attempt, x 2 before the 3rd (not urllib3's own 0, then x 2).
    assert 0.2 <= first < 0.2 + 0.35 and 0.4 <= second < 0.4 + 0.35


def test_a_receivers_retry_after_does_not_stretch_the_backoff(receiver):
    receiver.script = [Answer(503, {"Retry-After": "30"})]
    started = time.monotonic()
    outcome = send_alert(_alert(), sinks=[WebhookSink(receiver.url, attempts=2, backoff_seconds=0.01)])
    assert outcome["webhook"] == "sent" and len(receiver.arrivals) == 2
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("status, attempts", [(500, 3), (599, 3), (429, 3), (400, 1), (404, 1), (410, 1)])
def test_which_statuses_are_retried_and_the_message_when_giving_up(receiver, status, attempts):
    receiver.script = [Answer(status)] * 3
    outcome = send_alert(_alert(), sinks=[WebhookSink(receiver.url, attempts=3, backoff_seconds=0.01)])
    host = receiver.url.rsplit("/", 1)[0]
    assert outcome["webhook"] == f"failed: webhook {host} failed after {attempts} attempt(s): HTTP {status}"
    assert len(receiver.arrivals) == attempts


def test_a_read_timeout_is_retried_and_named_as_one(receiver):
    receiver.script = [Answer(delay=1.0), Answer(delay=1.0)]
    outcome = send_alert(_alert(), sinks=[WebhookSink(receiver.url, timeout=0.3, attempts=2, backoff_seconds=0.01)])
    host = receiver.url.rsplit("/", 1)[0]
    assert outcome["webhook"] == f"failed: webhook {host} failed after 2 attempt(s): ReadTimeout"
    assert len(receiver.arrivals) == 2

    receiver.script = [Answer(delay=1.0)]
    outcome = send_alert(_alert(), sinks=[WebhookSink(receiver.url, timeout=0.3, attempts=2, backoff_seconds=0.01)])
    assert outcome["webhook"] == "sent"
