"""Benchmark: a full sync through AircallClient against the sandbox, on a compressed rate window.

The sandbox (its own process, so the figures below are the client's alone) serves 30,000 calls over
30 days, one of them busier than the API's 10,000-result cap, with the company limit compressed to
60 requests per 6 s: the real 60-per-minute shape, ten times faster. The client shares a SQLite
RequestBudget with the same figures and syncs company, users, teams, numbers (+ each number's
detail, as the numbers asset does) and every call, one UTC day at a time like the daily partitions.

Reported: budget use (share of the windows' capacity actually used, target >= 95%), requests made
against the minimum, duplicate requests (target 0), 429s as the only client (target 0), peak RSS.

A second part measures the limiter itself across four independent processes, with and without the
safety margin, and the two delays the margin has to cover.

Prints one Markdown section on stdout (scripts/bench.py collects it into bench/RESULTS.md); progress
goes to stderr. Run: `.venv/bin/python bench/bench_sync.py [--calls N --busy N --quick]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aircall_pipeline.aircall import AircallClient, RequestBudget, RetryPolicy  # noqa: E402
from aircall_pipeline.aircall.budget import default_margin_ms  # noqa: E402
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN  # noqa: E402

PER_WINDOW, WINDOW_S = 60, 6.0
TARGET_SHARE = 0.95


def log(message: str) -> None:
    print(f"[bench_sync] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# -- the sandbox, in a child process --------------------------------------------------------------


def serve_forever(spec: str) -> int:
    """Child mode: start a sandbox from a JSON spec, print its URL, serve until stdin closes."""
    from aircall_pipeline.sandbox.data import SandboxAccount
    from aircall_pipeline.sandbox.server import SandboxServer

    options = json.loads(spec)
    account = SandboxAccount(**options.pop("account"))
    with SandboxServer(account, **options) as server:
        print(server.url, flush=True)
        sys.stdin.read()
    return 0


class Sandbox:
    def __init__(self, account: dict, **server_options):
        spec = json.dumps({"account": account, **server_options})
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", spec], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("the sandbox did not start")

    def stats(self) -> dict:
        return requests.get(self.url + "/sandbox/stats", timeout=10).json()

    def reset(self) -> None:
        requests.post(self.url + "/sandbox/reset", timeout=10).raise_for_status()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- part 1: the full sync ------------------------------------------------------------------------


def window_fill(times: list[float], per_window: int, window: float) -> tuple[float, int]:
    """Mean fill of the server-aligned windows strictly between the first and the last request."""
    counts = Counter(int(t // window) for t in times)
    first, last = min(counts), max(counts)
    inner = [counts.get(i, 0) for i in range(first + 1, last)]
    if not inner:
        return float("nan"), 0
    return statistics.fmean(inner) / per_window, len(inner)


def full_sync(args, workdir: Path) -> dict:
    days = args.days
    account = {
        "calls": args.calls, "busy_day_calls": args.busy, "days": days,
        "users": args.users, "teams": args.teams, "numbers": args.numbers,
    }  # fmt: skip
    sandbox = Sandbox(account, rate_limit=PER_WINDOW, window_seconds=WINDOW_S)
    try:
        budget = RequestBudget.from_url(
            f"sqlite:///{workdir}/limiter.sqlite", per_minute=PER_WINDOW, window_seconds=WINDOW_S
        )
        client = AircallClient(SANDBOX_API_ID, SANDBOX_API_TOKEN, api_url=sandbox.url, budget=budget)
        sent: list[float] = []
        client._session.hooks["response"].append(lambda r, *a, **k: sent.append(time.time()))
        log(f"syncing {args.calls:,} calls over {days} days at {budget.per_window_description} ...")
        started = time.monotonic()

        client.ping()
        company = client.company()
        users = sum(1 for _ in client.iter_users())
        teams = sum(1 for _ in client.iter_teams())
        numbers = [n["id"] for n in client.iter_numbers()]
        for number_id in numbers:
            client.number(number_id)
        anchor = datetime.now(UTC).date()
        first_day = anchor - timedelta(days=days)
        call_ids: set[int] = set()
        duplicates_yielded = 0
        leaves = []
        for offset in range(days):
            day = datetime.combine(first_day + timedelta(days=offset), datetime.min.time(), tzinfo=UTC)
            for page in client.iter_call_pages(day, day + timedelta(days=1)):
                for call in page:
                    duplicates_yielded += call["id"] in call_ids
                    call_ids.add(call["id"])
            leaves += client.call_windows
        elapsed = time.monotonic() - started
        stats = sandbox.stats()
        totals = client.stats.totals()
        per_endpoint = client.stats.as_dict()
        client.close()
        budget.close()
    finally:
        sandbox.close()

    fill, full_windows = window_fill(sent, PER_WINDOW, WINDOW_S)
    calls_requests = per_endpoint["/v1/calls"]["requests"]
    leaf_pages = sum(max(1, math.ceil(w.meta_total / 50)) for w in leaves)
    probes = calls_requests - leaf_pages  # first pages of windows that had to be split
    singles = 2 + len(numbers)  # ping, company, one detail per number
    minimum = (
        math.ceil(len(call_ids) / 50) + math.ceil(users / 50) + math.ceil(teams / 50)
        + math.ceil(len(numbers) / 50) + singles
    )  # fmt: skip
    return {
        "company": company, "users": users, "teams": teams, "numbers": len(numbers),
        "calls": len(call_ids), "calls_expected": args.calls, "busy": args.busy, "days": days,
        "duplicates_yielded": duplicates_yielded, "windows": len(leaves),
        "complete_windows": sum(w.complete for w in leaves), "split_windows": sum(1 for w in leaves if w.seconds < 86400),
        "elapsed": elapsed, "requests": totals["requests"], "server_requests": stats["requests"],
        "rate_limited": stats["rate_limited"], "server_duplicates": stats["duplicates"],
        "max_in_window": stats["max_in_window"], "retries": totals["retries"],
        "fill": fill, "full_windows": full_windows, "minimum": minimum, "probes": probes,
        "rounding": leaf_pages - math.ceil(len(call_ids) / 50), "per_endpoint": per_endpoint,
        "rss": peak_rss_mb(),
    }  # fmt: skip


# -- part 2: the limiter across processes ---------------------------------------------------------


def limiter_worker(api_url: str, limiter_url: str, count: int, margin_ms: int) -> int:
    """Child mode: `count` pings through a shared budget; prints JSON (admit->response delays, 429s)."""
    budget = RequestBudget.from_url(limiter_url, per_minute=PER_WINDOW, window_seconds=WINDOW_S, margin_ms=margin_ms)
    retry = RetryPolicy(max_rate_limit_wait=0, max_retries=0)
    client = AircallClient(SANDBOX_API_ID, SANDBOX_API_TOKEN, api_url=api_url, budget=budget, retry=retry)
    delays, times, refused = [], [], 0
    for _ in range(count):
        budget.acquire()
        admitted = time.perf_counter()
        # The budget was taken just above; send without a second acquire.
        response = client._session.get(api_url + "/v1/ping", timeout=(5, 30))
        delays.append(time.perf_counter() - admitted)
        times.append(time.time())
        refused += response.status_code == 429
    client.close()
    budget.close()
    print(json.dumps({"delays": delays, "times": times, "refused": refused}))
    return 0


def pyrate_lag_worker(db_path: str, count: int) -> int:
    """Child mode: how far pyrate's own blocking Limiter stamps lag behind the real admit time."""
    from pyrate_limiter import Limiter, Rate, SQLiteBucket

    bucket = SQLiteBucket.init_from_file([Rate(20, 1000)], db_path=db_path, use_file_lock=True)
    limiter = Limiter(bucket)
    name = f"p{os.getpid()}"
    lags = []
    for _ in range(count):
        limiter.try_acquire(name)
        now = time.time_ns() // 1_000_000
        with bucket.lock:
            (stamp,) = bucket.conn.execute(
                "SELECT max(item_timestamp) FROM rate_bucket WHERE name = ?", (name,)
            ).fetchone()
        lags.append(now - stamp)
    print(json.dumps(lags))
    return 0


def run_children(argv_list: list[list[str]]) -> list:
    procs = [
        subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for argv in argv_list
    ]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=600)
        if proc.returncode:
            raise RuntimeError(f"a child process failed ({proc.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def limiter_runs(args, workdir: Path) -> list[dict]:
    rows = []
    for margin in (0, default_margin_ms(WINDOW_S)):
        sandbox = Sandbox({"calls": 10}, rate_limit=PER_WINDOW, window_seconds=WINDOW_S)
        try:
            limiter_url = f"sqlite:///{workdir}/shared-{margin}.sqlite"
            started = time.time()
            results = run_children(
                [["--limiter-worker", sandbox.url, limiter_url, str(args.per_process), str(margin)]] * 4
            )
            elapsed = time.time() - started
            stats = sandbox.stats()
        finally:
            sandbox.close()
        delays = sorted(d for r in results for d in r["delays"])
        fill, _ = window_fill([t for r in results for t in r["times"]], PER_WINDOW, WINDOW_S)
        rows.append({
            "fill": fill,
            "margin": margin, "requests": stats["requests"], "rate_limited": stats["rate_limited"],
            "max_in_window": stats["max_in_window"], "elapsed": elapsed,
            "delay_p50": delays[len(delays) // 2] * 1000, "delay_p99": delays[int(len(delays) * 0.99)] * 1000,
            "delay_max": delays[-1] * 1000,
        })  # fmt: skip
        log(f"4 processes, margin {margin} ms: {rows[-1]}")
    return rows


def pyrate_lag(args, workdir: Path) -> dict:
    db = str(workdir / "pyrate.sqlite")
    lags = sorted(x for r in run_children([["--pyrate-lag-worker", db, str(args.lag_count)]] * 4) for x in r)
    return {"n": len(lags), "p50": lags[len(lags) // 2], "p99": lags[int(len(lags) * 0.99)], "max": lags[-1]}


# -- report -----------------------------------------------------------------------------------------


def report(sync: dict, limiter: list[dict], lag: dict | None) -> str:
    per_real_minute = PER_WINDOW * 60 / WINDOW_S
    ok = lambda good: "✅" if good else "❌"  # noqa: E731
    margin = default_margin_ms(WINDOW_S)
    lines = [
        "## Aircall sync through the client (bench_sync.py)",
        "",
        f"Sandbox in its own process: {sync['calls_expected']:,} calls over {sync['days']} days "
        f"({sync['busy']:,} extra on one day, so that day holds more than the API's 10,000-result cap), "
        f"{sync['users']} users, {sync['teams']} teams, {sync['numbers']} numbers. Company limit and client "
        f"budget: **{PER_WINDOW} requests per {WINDOW_S:g} s** — the real 60/min shape, 10x faster "
        f"(= {per_real_minute:.0f} requests per wall-clock minute). Limiter: SQLite file + file lock, "
        f"sliding window of {WINDOW_S:g} s + {margin} ms margin, smoothed to at most "
        f"{math.ceil(PER_WINDOW / 6)} per sixth of it. Calls fetched one UTC day at a time.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| budget use: mean fill of the sandbox's {sync['full_windows']} {WINDOW_S:g} s windows between the first and the last | "
        f"**{sync['fill']:.1%}** {ok(sync['fill'] >= TARGET_SHARE)} | >= 95% |",
        f"| long-run floor of the sliding window, W / (W + margin) | {WINDOW_S / (WINDOW_S + margin / 1000):.1%} "
        f"(a run long enough for the {margin} ms margin to shift a whole window; 99.0% on the real 60 s window) | >= 95% |",
        f"| requests per minute (whole run, start burst included) | "
        f"{sync['requests'] / sync['elapsed'] * 60:.0f} of {per_real_minute:.0f} "
        f"({sync['requests'] / sync['elapsed'] * 60 / per_real_minute:.1%}) | |",
        f"| wall time | {sync['elapsed']:.1f} s for {sync['requests']} requests | |",
        f"| requests made vs minimum | {sync['requests']} vs {sync['minimum']} "
        f"(+{sync['requests'] - sync['minimum']}: {sync['probes']} split-window first pages, "
        f"{sync['rounding']} partial last pages of day/half-day windows) | minimum + probes |",
        f"| calls fetched | {sync['calls']:,} of {sync['calls_expected']:,}, {sync['duplicates_yielded']} duplicates; "
        f"{sync['complete_windows']}/{sync['windows']} windows complete ({sync['split_windows']} from a split day) | all, once |",
        f"| duplicate requests (sandbox) | {sync['server_duplicates']} {ok(sync['server_duplicates'] == 0)} | 0 |",
        f"| 429s as the only client | {sync['rate_limited']} {ok(sync['rate_limited'] == 0)} | 0 |",
        f"| fullest sandbox window | {sync['max_in_window']} of {PER_WINDOW} | <= {PER_WINDOW} |",
        f"| retries | {sync['retries']} | 0 |",
        f"| peak RSS (client process) | {sync['rss']:.0f} MiB | |",
        "",
        "Requests per endpoint: "
        + ", ".join(f"`{k}` {v['requests']}" for k, v in sync["per_endpoint"].items())
        + ".",
        "",
        f"### Shared limiter: 4 independent processes, one SQLite budget, {PER_WINDOW} per {WINDOW_S:g} s",
        "",
        "Each process pings in a loop through its own `RequestBudget` on the same file; the sandbox counts "
        "requests in fixed windows aligned to its own clock (like the company counter). *Delay* is the time "
        "from admission by the limiter to the response: it bounds how late a request can reach the server "
        "after its stamp, which is what the margin must cover.",
        "",
        "| margin | requests | 429s | fullest window | budget use (full windows) | wall time | admit->response p50 / p99 / max |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in limiter:
        lines.append(
            f"| {row['margin']} ms | {row['requests']} | {row['rate_limited']} | {row['max_in_window']} of {PER_WINDOW} "
            f"| {row['fill']:.1%} | {row['elapsed']:.1f} s | {row['delay_p50']:.1f} / {row['delay_p99']:.1f} / {row['delay_max']:.1f} ms |"
        )
    if lag:
        lines += [
            "",
            f"Why the client drives pyrate's bucket itself instead of `Limiter.try_acquire(blocking=True)`: "
            f"that loop re-stamps a waiting request with `timestamp += sleep_ms`, not the time it is really "
            f"admitted. Measured with 4 processes on one SQLite bucket (20/s), the stored stamp lagged the real "
            f"admit time by p50 {lag['p50']} ms, p99 {lag['p99']} ms, max {lag['max']} ms ({lag['n']} admissions): "
            "each lag lets the window free that much early. Our loop stamps inside the lock at the moment of "
            "admission (lag 0 by construction).",
        ]
    lines += [
        "",
        f"Margin policy: max(200 ms, 1% of the window) — {margin} ms here "
        f"({1 - WINDOW_S / (WINDOW_S + margin / 1000):.1%} of throughput), 600 ms on the real 60 s window (1%). "
        f"On loopback, with four processes and the server sharing two cores, admit->response took at most "
        f"{max(r['delay_max'] for r in limiter):.0f} ms (p99 up to {max(r['delay_p99'] for r in limiter):.0f} ms) "
        "in the runs above; the admit->arrival part the margin has to cover is smaller still. Over the internet "
        "delays are larger, and the real window's 600 ms is there for them. "
        f"{'No 429 was seen here even without a margin: it is insurance. ' if limiter[0]['rate_limited'] == 0 else ''}"
        "Requests are also smoothed: at most a sixth of the budget in any sixth of the window.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        return serve_forever(sys.argv[2])
    if len(sys.argv) > 1 and sys.argv[1] == "--limiter-worker":
        return limiter_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    if len(sys.argv) > 1 and sys.argv[1] == "--pyrate-lag-worker":
        return pyrate_lag_worker(sys.argv[2], int(sys.argv[3]))

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30_000)
    parser.add_argument("--busy", type=int, default=11_000, help="extra calls on the busy day")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--users", type=int, default=240)
    parser.add_argument("--teams", type=int, default=12)
    parser.add_argument("--numbers", type=int, default=30)
    parser.add_argument("--per-process", type=int, default=60, help="pings per limiter worker (4 workers)")
    parser.add_argument("--lag-count", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="a small run to check the bench itself")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.busy, args.days, args.per_process, args.lag_count = 3_000, 1_000, 5, 20, 20

    with tempfile.TemporaryDirectory(prefix="bench_sync_") as tmp:
        workdir = Path(tmp)
        sync = full_sync(args, workdir)
        log(f"sync: {json.dumps({k: v for k, v in sync.items() if k != 'per_endpoint'}, default=str)}")
        limiter = limiter_runs(args, workdir)
        lag = pyrate_lag(args, workdir)
        log(f"pyrate stamp lag: {lag}")
    print(report(sync, limiter, lag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
