"""Benchmark: one evidence day of 50,000 calls, materialized by the real Dagster job.

A sandbox account puts 50,000 calls on one UTC day (so the client must split the day into windows
below the 10,000-result cap). The budget is time-compressed to 600 requests per 6 s (a hundred
times the real 60 a minute), sandbox and pipeline alike, so the run measures the pipeline rather
than the wait. Each measurement runs in a fresh child process so that its peak RSS is its own:

- the calls asset alone (fetch, normalise, write Parquet + CSV);
- the whole daily job for that day (snapshots, calls, every compliance check, report, manifest).

Prints one Markdown section on stdout (collected by scripts/bench.py into bench/RESULTS.md).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

CALLS = 50_000
RATE, WINDOW = 600, 6


def child(mode: str, workdir: Path, day: str) -> None:
    """Run in a fresh process: materialize, then print the measurements as JSON."""
    import dagster as dg

    from aircall_pipeline.definitions import build_assets, build_defs, build_resources
    from aircall_pipeline.names import SINGLE_ACCOUNT
    from aircall_pipeline.settings import Settings

    started = time.perf_counter()
    instance = dg.DagsterInstance.ephemeral()
    if mode == "calls":
        keys = [dg.AssetKey(["aircall", "calls"]), dg.AssetKey(["aircall", "call_windows"])]
        result = dg.materialize(build_assets(Settings.from_env()), selection=keys, partition_key=day, instance=instance,
                                resources=build_resources(Settings.from_env()))
    else:
        job = build_defs(Settings.from_env()).resolve_job_def(SINGLE_ACCOUNT.daily_job)
        result = job.execute_in_process(partition_key=day, instance=instance)
    elapsed = time.perf_counter() - started
    assert result.success
    print(json.dumps({"seconds": elapsed, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(mode: str, env: dict, workdir: Path, day: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, str(workdir), day], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"bench_daily: the {mode} run failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    from aircall_pipeline.sandbox.data import SandboxAccount
    from aircall_pipeline.sandbox.owner_files import write_owner_files
    from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN, SandboxServer

    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    account = SandboxAccount(calls=CALLS, days=1)
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(account, rate_limit=RATE, window_seconds=WINDOW) as server:
        work = Path(tmp)
        results = {}
        for mode in ("calls", "job"):
            evidence = work / mode / "evidence"
            (work / mode / "home").mkdir(parents=True)
            env = {**os.environ, "AIRCALL_API_URL": server.url, "AIRCALL_API_ID": SANDBOX_API_ID,
                   "AIRCALL_API_TOKEN": SANDBOX_API_TOKEN, "EVIDENCE_URI": str(evidence),
                   "DAGSTER_HOME": str(work / mode / "home"),
                   "AIRCALL_LIMITER_URL": f"sqlite:///{work / mode / 'limiter.sqlite'}",
                   "AIRCALL_RATE_LIMIT_PER_MINUTE": str(RATE), "AIRCALL_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
                   **write_owner_files(account, work / mode / "inputs")}
            server.reset_stats()
            print(f"bench_daily: materializing {mode} for {day} ...", file=sys.stderr)
            results[mode] = measure(mode, env, work, day)
            results[mode]["requests"] = server.stats()["requests"]
            results[mode]["rate_limited"] = server.stats()["rate_limited"]
            calls_dir = evidence / "aircall" / "calls"
            results[mode]["calls_bytes"] = folder_bytes(calls_dir)
            results[mode]["all_bytes"] = folder_bytes(evidence)
        calls_on_day = len(account.call_range(None, None))

    c, j = results["calls"], results["job"]
    print(f"## One evidence day of {calls_on_day:,} calls through Dagster\n")
    print(f"Sandbox: {calls_on_day:,} calls on {day} (one UTC day, so above the 10,000 cap and split into "
          f"windows); budget {RATE} requests per {WINDOW} s on both sides, i.e. 100x the real 60/min.\n")
    print("| run | wall time | peak RSS | API requests | 429s | bytes written |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| calls asset only | {c['seconds']:.1f} s | {c['max_rss_mb']:.0f} MB | {c['requests']} | "
          f"{c['rate_limited']} | {c['calls_bytes']:,} |")
    print(f"| whole daily job | {j['seconds']:.1f} s | {j['max_rss_mb']:.0f} MB | {j['requests']} | "
          f"{j['rate_limited']} | {j['all_bytes']:,} |")
    print(f"\nBytes written per call (calls table, Parquet + CSV): **{c['calls_bytes'] / calls_on_day:.0f} B**. "
          f"Minimum requests for the calls alone: {-(-calls_on_day // 50)} pages plus window probes. "
          f"At the real budget (60/min) the same day takes about {c['requests'] / 60:.0f} minutes of API time.")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
    else:
        main()
