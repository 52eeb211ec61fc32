"""Fixtures of the operations tests: a real webhook receiver on loopback, and a clean alert environment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aircall_pipeline_tests.operations.jobs import API_ID, SECRET_TOKEN


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST. `statuses` scripts the answers (then 200)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    response_body: bytes = b'{"ok": true}'
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def payloads(self) -> list[dict]:
        return [r.json for r in self.received]

    @property
    def raw(self) -> str:
        return "\n".join(r.body.decode("utf-8", "replace") + json.dumps(r.headers) for r in self.received)


def _start(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(receiver.response_body)))
            self.end_headers()
            self.wfile.write(receiver.response_body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server


@pytest.fixture
def alert_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No sink from the developer's shell; a distinctive secret that must never reach an alert."""
    for name in ("ALERT_SLACK_TOKEN", "ALERT_SLACK_CHANNEL", "ALERT_WEBHOOK_URL", "AIRCALL_API_URL",
                 "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRCALL_API_ID", API_ID)
    monkeypatch.setenv("AIRCALL_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3999")


@pytest.fixture
def webhook(alert_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """ALERT_WEBHOOK_URL pointing at a live receiver."""
    receiver = Receiver()
    server = _start(receiver)
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{receiver.url}/hooks/aircall")
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_slack(alert_env: None) -> Iterator[Receiver]:
    """A loopback stand-in for https://slack.com/api/ answering chat.postMessage."""
    receiver = Receiver(response_body=b'{"ok": true, "channel": "C1", "ts": "1.0"}')
    server = _start(receiver)
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def instance():
    """A real, temporary Dagster instance (runs, event log, sensor cursors)."""
    import dagster as dg

    with dg.instance_for_test() as inst:
        yield inst
