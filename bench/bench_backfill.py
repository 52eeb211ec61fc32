"""Benchmark: a 30-day call-history backfill through the real daemon, and two accounts side by side.

Part 1. A sandbox account (in this process) with about 700 calls a day and a budget of 120 requests
per 60 s, the pipeline's budget the same (AIRCALL_RATE_LIMIT_PER_MINUTE=120). For each path, a
fresh DAGSTER_HOME with the repository's dagster.yaml (its run queue and limits: one run per
account, the one `aircall_api` pool), a real `dagster-daemon run -m aircall_pipeline.definitions`, and the
backfill of `aircall_call_history` for 30 past days launched as `aircall-pipeline backfill` does it (the GraphQL
`launchPartitionBackfill`, here through the `dagster-graphql` CLI); the daemon cuts it into runs
and the run queue starts them. Paths:

- several days per run: AIRCALL_BACKFILL_DAYS_PER_RUN at its default;
- one run per day: AIRCALL_BACKFILL_DAYS_PER_RUN=1 (what every backfill was before).

Reported: requests the sandbox answered, the budget time (requests / 120 per minute), the wall
time from the backfill's creation to the end of its last run (Dagster's own timestamps), their
ratio (target <= 1.15 for the multi-day path), runs, 429s.

Part 2. Two sandbox accounts in one AIRCALL_ACCOUNTS_FILE sharing one SQLite limiter file (each
under its own key), each with a busy day; two processes materialize each account's calls for that
day at the same time, through the accounts' own jobs and resources. Budget use is measured in each
sandbox's own fixed windows (its /sandbox/stats): the mean fill of the windows strictly between its
first and last, target >= 90% each; and 429s.

Prints one Markdown section on stdout (scripts/bench.py collects it into bench/RESULTS.md);
progress goes to stderr. `--quick` runs a small version to check the benchmark itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aircall_pipeline.commands.backfill import LAUNCH_MUTATION, backfill_params  # noqa: E402
from aircall_pipeline.config.settings import DEFAULT_ACCOUNT_KEY, DEFAULT_BACKFILL_DAYS_PER_RUN, Settings  # noqa: E402
from aircall_pipeline.ingest.partitions import partition_key, register_accounts  # noqa: E402
from aircall_pipeline.names import ACCOUNTS_PARTITIONS, API_POOL, HISTORY_JOB, HISTORY_TABLES  # noqa: E402
from aircall_pipeline.operations.jobs import BACKFILL_PRIORITY, run_tags  # noqa: E402
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN  # noqa: E402

RATE, WINDOW = 120, 60  # part 1: requests per window (s), sandbox and pipeline alike
PAIR_RATE, PAIR_WINDOW = 60, 6  # part 2: the real 60/min shape, ten times faster
TARGET_RATIO, TARGET_SHARE = 1.15, 0.90
BIN = Path(sys.executable).parent
LOCATION = "aircall_pipeline.definitions"
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def log(message: str) -> None:
    print(f"[bench_backfill] {message}", file=sys.stderr, flush=True)


# -- part 1: backfills through the daemon -----------------------------------------------------------


class Daemon:
    """`dagster-daemon run` in its own process group (stopped by its id), logs to a file."""

    def __init__(self, env: dict, home: Path):
        self.log_path = home / "daemon.log"
        self.proc = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-m", LOCATION], cwd=REPO, env=env,
            stdout=self.log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, instance, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            beats = instance.get_daemon_heartbeats()
            if {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= set(beats):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(1)
        raise RuntimeError(f"the daemon did not start; see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def launch_backfill(env: dict, days: list[str]) -> str:
    """What `aircall-pipeline backfill` asks (GraphQL launchPartitionBackfill): the call-history
    assets over `days` (partition keys), with the account's run tags."""
    params = backfill_params(HISTORY_TABLES, days, run_tags(Settings.defaults().accounts[0],
                                                            priority=BACKFILL_PRIORITY))
    proc = subprocess.run([str(BIN / "dagster-graphql"), "-m", LOCATION, "-t", LAUNCH_MUTATION,
                           "-v", json.dumps({"params": params})],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    try:
        # stdout also carries the code server's log lines; the answer is the JSON line.
        [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith('{"data"')]
        answer = json.loads(line)["data"]["launchPartitionBackfill"]
    except (ValueError, KeyError, TypeError):
        raise RuntimeError(f"launchPartitionBackfill failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}") from None
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"launchPartitionBackfill: {answer}")
    return answer["backfillId"]


def backfill_path(label: str, days_per_run: int, days: list[str], base_env: dict, work: Path, server,
                  timeout: float) -> dict:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    from aircall_pipeline.evidence.store import EvidenceStore

    home, evidence = work / label / "home", work / label / "evidence"
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {**base_env, "DAGSTER_HOME": str(home), "EVIDENCE_URI": str(evidence),
           "AIRCALL_BACKFILL_DAYS_PER_RUN": str(days_per_run)}
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    daemon = Daemon(env, home)
    try:
        log(f"{label}: starting the daemon ...")
        daemon.wait_ready(instance)
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, [DEFAULT_ACCOUNT_KEY])  # as the registry sensor would
        server.reset_stats()
        log(f"{label}: launching the backfill of {len(days)} days, {days_per_run} per run ...")
        backfill_id = launch_backfill(env, [str(partition_key(DEFAULT_ACCOUNT_KEY, d)) for d in days])
        deadline = time.monotonic() + timeout
        while True:
            backfill = instance.get_backfill(backfill_id)
            records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            done = [r for r in records if r.dagster_run.is_finished]
            if backfill.status.value in FINISHED and len(done) == len(records) and records:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label}: not finished after {timeout:.0f} s ({len(done)}/{len(records)} runs)")
            time.sleep(2)
        stats = server.stats()
    finally:
        daemon.stop()
    starts = [r.start_time for r in records if r.start_time]
    ends = [r.end_time for r in records if r.end_time]
    failed = [r.dagster_run.run_id for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
    store = EvidenceStore.from_uri(evidence)
    folders = [d for d in store.dates("calls") if d in days]
    rows = sum(len(store.read_table("calls", d)) for d in folders)
    wall = max(ends) - backfill.backfill_timestamp
    submitted = min(r.create_timestamp.timestamp() for r in records)
    ordered = sorted(records, key=lambda r: r.start_time)
    gaps = [b.start_time - a.end_time for a, b in zip(ordered, ordered[1:], strict=False)]
    budget_time = stats["requests"] / (RATE / WINDOW)
    result = {
        "label": label, "days_per_run": days_per_run, "runs": len(records), "failed": len(failed),
        "requests": stats["requests"], "rate_limited": stats["rate_limited"], "max_in_window": stats["max_in_window"],
        "budget_time": budget_time, "wall": wall, "ratio": wall / budget_time,
        "pickup": submitted - backfill.backfill_timestamp,
        "first_start": min(starts) - backfill.backfill_timestamp,
        "wall_runs": max(ends) - submitted, "ratio_runs": (max(ends) - submitted) / budget_time,
        "run_seconds": statistics.fmean(r.end_time - r.start_time for r in records),
        "gap": statistics.fmean(gaps) if gaps else 0.0,
        # Where the wall time went: before the first request, the API's busy span, after the last one.
        "lead": stats["first_admitted_at"] - submitted,
        "api_span": stats["last_admitted_at"] - stats["first_admitted_at"],
        "tail": max(ends) - stats["last_admitted_at"],
        "folders": len(folders), "rows": rows, "windows_folders": len([d for d in store.dates("call_windows") if d in days]),
    }
    log(f"{label}: {result}")
    return result


def part_one(args, work: Path) -> tuple[list[dict], dict]:
    from aircall_pipeline.sandbox.data import SandboxAccount
    from aircall_pipeline.sandbox.server import SandboxServer

    today = datetime.now(UTC).date()
    # 30 past days ending the day before yesterday: every one of them is over, whatever the hour.
    first = today - timedelta(days=args.days + 1)
    days = [(first + timedelta(days=i)).isoformat() for i in range(args.days)]
    account = SandboxAccount(seed=21, calls=args.calls_per_day * (args.days + 1), days=args.days + 1)
    expected = sum(len(_day_calls(account, d)) for d in days)
    results = []
    with SandboxServer(account, rate_limit=RATE, window_seconds=WINDOW) as server:
        base_env = {
            **os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "AIRCALL_API_URL": server.url, "AIRCALL_API_ID": SANDBOX_API_ID, "AIRCALL_API_TOKEN": SANDBOX_API_TOKEN,
            "AIRCALL_RATE_LIMIT_PER_MINUTE": str(RATE), "AIRCALL_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
            # One account, one budget: both paths draw from the same limiter, as they would in production.
            "AIRCALL_LIMITER_URL": f"sqlite:///{work / 'limiter.sqlite'}",
            "AIRCALL_PARTITIONS_START": days[0], "AIRCALL_SCHEDULE_DEFAULT_STATUS": "stopped",
            "AIRCALL_PII_HASH_KEY": "bench-" + "k" * 40,
        }
        base_env.pop("AIRCALL_ACCOUNTS_FILE", None)
        for label, per_run in (("several days per run", args.days_per_run), ("one run per day", 1)):
            results.append(backfill_path(label, per_run, days, base_env, work, server, args.timeout))
    return results, {"days": days, "calls": expected, "per_day": args.calls_per_day}


def _day_calls(account, day: str) -> range:
    start = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())
    return account.call_range(start - 1, start + 86400 - 1)


# -- part 2: two accounts side by side -------------------------------------------------------------


def pair_worker(name: str, day: str) -> int:
    """Child mode: materialize account `name`'s calls for `day` through its own job; print JSON."""
    import dagster as dg

    from aircall_pipeline.definitions import build_defs

    settings = Settings.from_env()
    instance = dg.DagsterInstance.ephemeral()
    register_accounts(instance, settings.accounts)
    job = build_defs(settings).resolve_job_def(HISTORY_JOB)
    started = time.time()
    result = job.execute_in_process(partition_key=partition_key(name, day), instance=instance, raise_on_error=False)
    print(json.dumps({"success": result.success, "started": started, "ended": time.time()}))
    return 0


def window_share(by_window: dict[str, int], limit: int) -> tuple[float, int]:
    """Mean fill of the server's windows strictly between the first and the last it counted."""
    counts = {round(float(k) / PAIR_WINDOW): n for k, n in by_window.items()}
    if len(counts) < 3:
        return float("nan"), 0
    inner = [counts.get(i, 0) for i in range(min(counts) + 1, max(counts))]
    return statistics.fmean(inner) / limit, len(inner)


def part_two(args, work: Path) -> list[dict]:
    from aircall_pipeline.sandbox.data import SandboxAccount
    from aircall_pipeline.sandbox.server import SandboxServer

    today = datetime.now(UTC).date()
    busy = today - timedelta(days=2)
    accounts = {"north": 31, "south": 37}  # name -> seed
    servers, lines = {}, ["accounts:"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "DAGSTER_HOME": str(work / "pair" / "home"), "AIRCALL_LIMITER_URL": f"sqlite:///{work / 'pair' / 'limiter.sqlite'}",
           "AIRCALL_RATE_LIMIT_WINDOW_SECONDS": str(PAIR_WINDOW), "AIRCALL_PARTITIONS_START": (busy - timedelta(days=5)).isoformat(),
           "AIRCALL_SCHEDULE_DEFAULT_STATUS": "stopped", "AIRCALL_PII_HASH_KEY": "bench-" + "k" * 40}
    (work / "pair" / "home").mkdir(parents=True)
    try:
        for name, seed in accounts.items():
            account = SandboxAccount(seed=seed, calls=args.busy_calls + 1000, days=3, busy_day=busy,
                                     busy_day_calls=args.busy_calls)
            api_id, token = f"id-{name}", f"tok-{name}"
            servers[name] = SandboxServer(account, api_id=api_id, api_token=token, rate_limit=PAIR_RATE,
                                          window_seconds=PAIR_WINDOW).start()
            upper = name.upper()
            env[f"AIRCALL_{upper}_API_ID"], env[f"AIRCALL_{upper}_API_TOKEN"] = api_id, token
            lines += [f"  - name: {name}", f"    api_url: {servers[name].url}",
                      f"    api_id_env: AIRCALL_{upper}_API_ID", f"    api_token_env: AIRCALL_{upper}_API_TOKEN",
                      f"    evidence_uri: {work / 'pair' / name}", f"    rate_limit_per_minute: {PAIR_RATE}"]
        accounts_file = work / "pair" / "accounts.yaml"
        accounts_file.write_text("\n".join(lines) + "\n")
        env["AIRCALL_ACCOUNTS_FILE"] = str(accounts_file)
        log(f"two accounts, {args.busy_calls:,} calls each on {busy}, {PAIR_RATE} per {PAIR_WINDOW} s each ...")
        procs = {name: subprocess.Popen([sys.executable, __file__, "--pair-worker", name, busy.isoformat()],
                                        cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
                 for name in accounts}
        outputs = {}
        for name, proc in procs.items():
            stdout, _ = proc.communicate(timeout=args.timeout)
            if proc.returncode:
                raise RuntimeError(f"the {name} worker failed ({proc.returncode})")
            outputs[name] = json.loads(stdout.strip().splitlines()[-1])
        rows = []
        for name, server in servers.items():
            stats = server.stats()
            share, windows = window_share(stats["by_window"], PAIR_RATE)
            firsts = [float(k) for k in stats["by_window"]]
            rows.append({"name": name, "success": outputs[name]["success"], "requests": stats["requests"],
                         "rate_limited": stats["rate_limited"], "max_in_window": stats["max_in_window"],
                         "share": share, "windows": windows, "first": min(firsts), "last": max(firsts) + PAIR_WINDOW,
                         "budget": f"aircall_{name}", "pool": API_POOL,  # Account.budget of a named account
                         "seconds": outputs[name]["ended"] - outputs[name]["started"]})
            log(f"{name}: {rows[-1]}")
        return rows
    finally:
        for server in servers.values():
            server.stop()


# -- report -----------------------------------------------------------------------------------------


def report(paths: list[dict], setup: dict, pair: list[dict], args) -> str:
    ok = lambda good: "✅" if good else "❌"  # noqa: E731
    multi, single = paths
    lines = [
        "## Call-history backfill through the daemon, and two accounts side by side (bench_backfill.py)",
        "",
        f"Sandbox (in the benchmark's process): {setup['calls']:,} calls over the {len(setup['days'])} days "
        f"{setup['days'][0]} .. {setup['days'][-1]} (about {setup['per_day']:,} a day); budget **{RATE} requests "
        f"per {WINDOW} s** on both sides (AIRCALL_RATE_LIMIT_PER_MINUTE={RATE}). Each path: a fresh DAGSTER_HOME "
        "with the repository's dagster.yaml (one run per `aircall/account`, the `aircall_api` pool), a real "
        f"`dagster-daemon run -m {LOCATION}`, and the backfill of `aircall_call_history`'s assets launched as "
        "`aircall-pipeline backfill` does (GraphQL `launchPartitionBackfill`, an asset backfill); the daemon cuts it into runs, the run queue starts them. "
        "*Wall* runs from the backfill's creation to the end of its last run (Dagster's timestamps); *budget "
        f"time* is requests / {RATE} per {WINDOW} s, the least time the API allows.",
        "",
        "| path | runs | requests | budget time | wall time | **wall / budget** | daemon pickup | "
        "wall from the first run's submission | its ratio | mean run | mean gap between runs | 429s | "
        "day folders (calls, windows) | calls stored |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for p in paths:
        target = f" {ok(p['ratio'] <= TARGET_RATIO)}" if p is multi else ""
        lines.append(
            f"| {p['label']} ({p['days_per_run']}/run) | {p['runs']} | {p['requests']} | {p['budget_time']:.0f} s | "
            f"{p['wall']:.0f} s | **{p['ratio']:.2f}**{target} | {p['pickup']:.0f} s | {p['wall_runs']:.0f} s | "
            f"{p['ratio_runs']:.2f} | {p['run_seconds']:.0f} s | {p['gap']:.1f} s | "
            f"{p['rate_limited']} | {p['folders']}, {p['windows_folders']} | {p['rows']:,} of {setup['calls']:,} |")
    dequeue = yaml.safe_load((REPO / "dagster.yaml").read_text())["run_coordinator"]["config"]
    lines += [
        "",
        "Where the wall time went (sandbox clock for the requests, Dagster's for the rest): *to the first "
        "request* runs from the first run's submission; *API busy* from the first admitted request to the "
        "last, with its ratio to the budget time (the limiter's own pace, plus any gap between runs it could "
        "not make up); *after the last request* to the end of the last run.",
        "",
        "| path | daemon pickup | to the first request | API busy | its ratio | after the last request |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in paths:
        lines.append(
            f"| {p['label']} ({p['days_per_run']}/run) | {p['pickup']:.0f} s | {p['lead']:.1f} s | "
            f"{p['api_span']:.0f} s | {p['api_span'] / p['budget_time']:.2f} | {p['tail']:.1f} s |")
    lines += [
        "",
        f"Target: several days per run within {TARGET_RATIO} x the budget time, from the backfill's launch. "
        f"Each run costs a gap of about {single['gap']:.0f} s before the next one works (the run queue's next "
        f"pass, every {dequeue['dequeue_interval_seconds']} s in dagster.yaml; a run worker process; loading "
        "the code); "
        f"{multi['days_per_run']} days per run pay it {multi['runs'] - 1} times instead of {single['runs'] - 1}. "
        "The limiter lets a sixth of its window through at once after an idle spell (20 requests here), "
        f"which hides part of each gap when a run needs few requests (a day here needs about "
        f"{single['requests'] / len(setup['days']):.0f}); the rest of the gap is budget lost. "
        "Before the first run, the daemon's backfill loop (it wakes every 30 s, a Dagster constant) must pick "
        "the backfill up (*daemon pickup*, between 0 and 30 s whatever the backfill's length): that wait is in "
        "both walls, and the ratio without it is shown next to it. With the longest pickup (30 s) the "
        f"several-days path would be at {(multi['wall_runs'] + 30) / multi['budget_time']:.2f}, with none at "
        f"{multi['ratio_runs']:.2f}. Failed runs: "
        f"{multi['failed']} and {single['failed']}. Fullest sandbox window: {multi['max_in_window']} and "
        f"{single['max_in_window']} of {RATE}.",
        "",
        "### Two accounts syncing at the same time",
        "",
        f"Two sandbox accounts in one AIRCALL_ACCOUNTS_FILE, each with {args.busy_calls:,} calls on one day (so "
        f"split into windows below the 10,000 cap) and a budget of **{PAIR_RATE} requests per {PAIR_WINDOW} s** "
        "(the real 60/min shape, ten times faster) on both sides; one SQLite limiter file for both, each under "
        "its own key. Two processes materialize each account's calls for that day at the same time through the "
        "`aircall_call_history` job (the account's partition `<name>|<day>`). *Budget use* is the mean fill of the sandbox's own "
        "fixed windows strictly between its first and its last (from its /sandbox/stats).",
        "",
        "| account | limiter key | pool | requests | budget use | windows measured | 429s | fullest window | run time |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in pair:
        lines.append(
            f"| {row['name']} | `{row['budget']}` | `{row['pool']}` | {row['requests']} | **{row['share']:.1%}** "
            f"{ok(row['share'] >= TARGET_SHARE and row['success'])} | {row['windows']} | {row['rate_limited']} "
            f"{ok(row['rate_limited'] == 0)} | {row['max_in_window']} of {PAIR_RATE} | {row['seconds']:.0f} s |")
    overlap = min(r["last"] for r in pair) - max(r["first"] for r in pair)
    span = max(r["last"] for r in pair) - min(r["first"] for r in pair)
    lines += [
        "",
        f"Target: each account at least {TARGET_SHARE:.0%} of its own budget, no 429. The two syncs overlapped "
        f"for {overlap:.0f} s of {span:.0f} s. A limiter's long-run ceiling is W / (W + margin): "
        f"{PAIR_WINDOW / (PAIR_WINDOW + 0.2):.1%} on this {PAIR_WINDOW} s window, 99.0% on the real 60 s one.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--pair-worker":
        return pair_worker(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    # 1,000 calls a day: ~21 requests, ~10 s of this budget per day, so the API work outweighs a run's
    # own cost (the brief's "about 700" gives ~7 s, less than one run's start-up here).
    parser.add_argument("--calls-per-day", type=int, default=1000)
    parser.add_argument("--days-per-run", type=int, default=DEFAULT_BACKFILL_DAYS_PER_RUN)
    parser.add_argument("--busy-calls", type=int, default=24_000, help="calls on each account's busy day (part 2)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per backfill path")
    parser.add_argument("--only", choices=("backfill", "pair"), help="run one part (a partial report)")
    parser.add_argument("--quick", action="store_true", help="a small run to check the benchmark itself")
    args = parser.parse_args()
    if args.quick:
        args.days, args.calls_per_day, args.days_per_run, args.busy_calls = 4, 100, 2, 3_000
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench_backfill_") as tmp:
        work = Path(tmp)
        paths, setup = part_one(args, work) if args.only != "pair" else (None, None)
        pair = part_two(args, work) if args.only != "backfill" else None
    log(f"done in {time.monotonic() - started:.0f} s")
    if paths is None or pair is None:
        print(json.dumps({"paths": paths, "pair": pair}, indent=1, default=str))
        return 0
    print(report(paths, setup, pair, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
