"""`aircall-pipeline sandbox`: serve a simulated Aircall account on loopback until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

from aircall_pipeline.commands.exit_codes import EXIT_OK, EXIT_UNUSABLE
from aircall_pipeline.config.settings import is_loopback_host
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN, SandboxServer
from aircall_pipeline.sandbox.webhooks import WEBHOOK_DESTINATIONS

DEFAULT_PORT = 8899


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="serve a simulated Aircall API (seeded account, rate limit, 10k cap, faults) on loopback",
        description=(
            "A faithful Aircall Public API simulator for demos, tests and benchmarks. It prints the "
            "AIRCALL_API_* variables that point the pipeline at it, and serves until Ctrl-C or SIGTERM."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default: %(default)s)")
    parser.add_argument("--ready-file", type=Path, help="write the URL to this file once listening")
    account = parser.add_argument_group("account")
    account.add_argument("--seed", type=int, default=7, help="same seed, same account (default: %(default)s)")
    account.add_argument("--users", type=int, default=25, help="default: %(default)s")
    account.add_argument("--teams", type=int, default=4, help="default: %(default)s")
    account.add_argument("--numbers", type=int, default=6, help="default: %(default)s")
    account.add_argument("--calls", type=int, default=2000, help="total calls in the history (default: %(default)s)")
    account.add_argument("--days", type=int, default=30, help="full UTC days of history before the anchor date")
    account.add_argument("--busy-day-calls", type=int, default=0,
                         help="how many of --calls are concentrated on the day before the anchor date, "
                              "on top of its ordinary share (e.g. 15000 of 30000 for a day past the 10k cap)")
    account.add_argument("--hostile-names", action="store_true",
                         help="name users, teams and numbers with spreadsheet formulas, Slack pings and "
                              "Markdown links (=HYPERLINK(...), <!channel>, [x](https://evil.invalid)), "
                              "to test what the evidence and the alerts do with them")
    account.add_argument("--webhooks", type=int, default=len(WEBHOOK_DESTINATIONS),
                         help="webhooks on the account, 0 to 100; the first six include a plain-http "
                              "destination, an unapproved one, an inactive one and one on all events "
                              "(default: %(default)s)")
    account.add_argument("--anchor-date", type=date.fromisoformat, help="YYYY-MM-DD; history ends the day before (default: today UTC)")
    limits = parser.add_argument_group("rate limit and faults")
    limits.add_argument("--rate-limit", type=int, default=60,
                        help="requests per window, per company; beyond it 429 (default: %(default)s)")
    limits.add_argument("--window-seconds", type=float, default=60,
                        help="length of the fixed rate window; shrink it to compress time (default: %(default)s)")
    limits.add_argument("--reset-in-ms", action="store_true", help="send X-AircallApi-Reset in milliseconds")
    limits.add_argument("--no-reset-header", action="store_true", help="omit X-AircallApi-Reset from 429s")
    limits.add_argument("--latency-ms", type=int, default=0, help="added to every API response")
    limits.add_argument("--fail-5xx-rate", type=float, default=0.0, help="share of requests answered 503")
    limits.add_argument("--revoke-after", type=int, help="revoke the key (401) after this many requests")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not is_loopback_host(args.host):
        print(f"error: --host {args.host} is not a loopback address; the sandbox only serves 127.0.0.1/::1.",
              file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        account = SandboxAccount(
            seed=args.seed, users=args.users, teams=args.teams, numbers=args.numbers, calls=args.calls,
            days=args.days, busy_day_calls=args.busy_day_calls, anchor=args.anchor_date,
            hostile_names=args.hostile_names, webhooks=args.webhooks,
        )
        server = SandboxServer(
            account, host=args.host, port=args.port, rate_limit=args.rate_limit,
            window_seconds=args.window_seconds, latency_ms=args.latency_ms, fail_5xx_rate=args.fail_5xx_rate,
            revoke_after=args.revoke_after,
            reset_header="none" if args.no_reset_header else "milliseconds" if args.reset_in_ms else "seconds",
        )
        server.start()
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        print(f"Aircall sandbox for {account.company_name!r} listening on {server.url}")
        print(f"  {len(account.users)} users, {len(account.teams)} teams, {len(account.numbers)} numbers, "
              f"{len(account.webhooks)} webhooks, {account.call_count} calls from {account.first_day} to {account.anchor} (exclusive)")
        print(f"  rate limit {args.rate_limit} requests / {args.window_seconds:g} s; test hooks at {server.url}/sandbox/stats")
        print("Point the pipeline at it with:")
        print(f"  AIRCALL_API_URL={server.url} AIRCALL_API_ID={SANDBOX_API_ID} AIRCALL_API_TOKEN={SANDBOX_API_TOKEN}")
        sys.stdout.flush()
        if args.ready_file:
            _write_atomically(args.ready_file, server.url + "\n")
        stop.wait()
    finally:
        server.stop()
    print("Aircall sandbox stopped.")
    return EXIT_OK


def _write_atomically(path: Path, text: str) -> None:
    # A waiting script polls for the file; it must never read it half-written.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
