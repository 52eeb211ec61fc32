"""`aircall-pipeline backfill`: what it refuses before asking anything, and what it says when the
webserver is not there or is not Dagster. The launch itself, through a real `dagster dev` and its
daemon, is in test_ui.py (it shares that module's one webserver)."""

from __future__ import annotations

import json
import socket
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aircall_pipeline.cli import main

# Days inside the call history horizon (AIRCALL_HISTORY_DAYS, 180 by default) whenever the tests run.
RECENT = (date.today() - timedelta(days=20)).isoformat()
EARLIER = (date.today() - timedelta(days=29)).isoformat()


@pytest.fixture(autouse=True)
def single_account(monkeypatch):
    for name in ("AIRCALL_ACCOUNTS_FILE", "AIRCALL_API_URL"):
        monkeypatch.delenv(name, raising=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_days_must_be_in_order_and_plausible(capsys):
    assert main(["backfill", "--from", RECENT, "--to", EARLIER, "--webserver", "http://127.0.0.1:9"]) == 2
    assert f"--to {EARLIER} is before --from {RECENT}" in capsys.readouterr().out
    assert main(["backfill", "--from", "2016-01-01", "--to", "2026-03-01", "--webserver", "http://127.0.0.1:9"]) == 2
    assert "check the years" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["backfill", "--from", "10/03/2026"])
    assert "is not a date in the form YYYY-MM-DD" in capsys.readouterr().err


def test_an_unreachable_webserver_says_how_to_reach_one(capsys):
    url = f"http://127.0.0.1:{_closed_port()}"
    assert main(["backfill", "--from", RECENT, "--webserver", url]) == 2
    out = capsys.readouterr().out
    assert f"cannot reach the Dagster webserver at {url}" in out and "--webserver URL" in out


def test_a_server_that_is_not_dagster_is_named(sandbox, capsys):
    """The Aircall sandbox answers /graphql with its own 404: not taken for a Dagster answer."""
    assert main(["backfill", "--from", RECENT, "--webserver", sandbox.url]) == 1
    out = capsys.readouterr().out
    assert f"{sandbox.url}/graphql answered HTTP" in out and "not Dagster's GraphQL" in out


def test_an_unknown_account_is_a_configuration_error(tmp_path, monkeypatch, capsys):
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - name: north\n    api_id_env: N_ID\n    api_token_env: N_TOKEN\n")
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(accounts))
    assert main(["backfill", "--account", "south", "--from", RECENT, "--webserver", "http://127.0.0.1:9"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("Configuration error:") and "north" in out


def test_a_graphql_error_answer_is_said_not_crashed_on(capsys):
    """GraphQL reports a failed request as 200 with `data: null` and `errors`."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server interface
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"data": None, "errors": [{"message": "Cannot query field 'x'"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert main(["backfill", "--from", RECENT, "--webserver", url]) == 1
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert "GraphQL refused the request" in out and "Cannot query field 'x'" in out


def test_a_day_past_the_history_horizon_is_refused_naming_it(monkeypatch, capsys):
    """Aircall answers call windows older than ~6 months with an empty list: such a backfill would
    seal days of nothing, so it is refused before the webserver is even asked."""
    monkeypatch.setenv("AIRCALL_HISTORY_DAYS", "30")
    old = (date.today() - timedelta(days=45)).isoformat()
    assert main(["backfill", "--from", old, "--to", RECENT, "--webserver", "http://127.0.0.1:9"]) == 2
    out = capsys.readouterr().out
    assert "past the history horizon" in out and "AIRCALL_HISTORY_DAYS" in out and "last 30 days" in out
