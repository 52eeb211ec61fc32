"""`aircall-pipeline sandbox`: starts on loopback, announces itself, stops cleanly on SIGTERM."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from aircall_pipeline.sandbox import cli
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN

# The sandbox's own parser only, so this test does not depend on the other subcommands.
RUN_SANDBOX = """
import argparse, sys
from aircall_pipeline.sandbox import cli
parser = argparse.ArgumentParser(prog="aircall-pipeline")
cli.register(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["sandbox", *argv])


def test_serves_until_sigterm_and_writes_the_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "sandbox.url"
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_SANDBOX, "sandbox", "--port", "0", "--calls", "200", "--ready-file", str(ready),
         "--rate-limit", "1000", "--anchor-date", "2026-03-15"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the sandbox never became ready"
            time.sleep(0.05)
        url = ready.read_text().strip()
        response = requests.get(url + "/v1/company", auth=(SANDBOX_API_ID, SANDBOX_API_TOKEN), timeout=5)
        assert response.json()["company"]["users_count"] == 25
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert f"AIRCALL_API_URL={url} AIRCALL_API_ID={SANDBOX_API_ID} AIRCALL_API_TOKEN={SANDBOX_API_TOKEN}" in stdout


def test_refuses_a_non_loopback_host(capsys) -> None:
    assert cli.run(parse("--host", "0.0.0.0")) == 2
    assert "loopback" in capsys.readouterr().err


def test_options_reach_the_account_and_server() -> None:
    args = parse("--calls", "10", "--busy-day-calls", "5", "--reset-in-ms", "--revoke-after", "3")
    assert (args.calls, args.busy_day_calls, args.reset_in_ms, args.revoke_after, args.port) == (10, 5, True, 3, 8899)
    assert parse().hostile_names is False and parse("--hostile-names").hostile_names is True


def test_webhooks_option(capsys) -> None:
    assert parse().webhooks == 6 and parse("--webhooks", "40").webhooks == 40
    assert cli.run(parse("--webhooks", "101")) == 2  # Aircall's limit is 100 per company
    assert "webhooks" in capsys.readouterr().err
