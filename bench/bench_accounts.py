#!/usr/bin/env python3
"""Definitions load for 1, 100 and 1,000 accounts (issue "Accounts as data, not code").

What is timed, each in a fresh process (a code server and every run worker pay it):
- `dagster definitions validate -m aircall_pipeline.definitions` (the CLI an operator runs);
- a run worker's own load: `load_defs()`, then the repository, its jobs and its asset graph
  (what `dagster api execute_run` resolves before the first step).

- the scheduler sensor's work on one tick (`aircall_daily_scheduler`): parsing the accounts file
  (a changed file; an unchanged one is cached) and deciding every account's due day.

The accounts file is generated: N accounts, each with its own variables, timezone and cron. Each
figure is the median of 3 runs. The target: 1,000 accounts within 1.5 x the time of 1.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
DAGSTER = str(Path(PY).with_name("dagster"))
# BENCH_ACCOUNTS_SIZES="1 10" for a quick look.
SIZES = tuple(int(n) for n in os.environ.get("BENCH_ACCOUNTS_SIZES", "1 100 1000").split())
REPEATS = 3
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney")

WORKER_LOAD = """
import time
t = time.perf_counter()
from aircall_pipeline.definitions import load_defs
defs = load_defs()
repo = defs.get_repository_def()
jobs = repo.get_all_jobs()
graph = repo.asset_graph
print(len(list(graph.get_all_asset_keys())), len(jobs), len(repo.sensor_defs), len(repo.schedule_defs))
"""

SCHEDULER_TICK = """
import time
from datetime import UTC, datetime
from aircall_pipeline.operations.scheduler import scheduled_requests
from aircall_pipeline.registry import current_settings
t = time.perf_counter()
settings = current_settings()
parsed = time.perf_counter()
requests, _ = scheduled_requests(settings, {a.key for a in settings.accounts}, datetime.now(UTC))
decided = time.perf_counter()
current_settings()
cached = time.perf_counter()
print(parsed - t, decided - parsed, cached - decided, len(requests))
"""


def accounts_file(folder: Path, n: int) -> tuple[Path, dict[str, str]]:
    lines, env = ["accounts:"], {}
    for i in range(n):
        name = f"acct_{i:04d}"
        lines += [f"  - name: {name}",
                  f"    api_id_env: AIRCALL_{name.upper()}_API_ID",
                  f"    api_token_env: AIRCALL_{name.upper()}_API_TOKEN",
                  f"    evidence_uri: {folder / 'evidence' / name}",
                  f"    timezone: {ZONES[i % len(ZONES)]}",
                  f"    schedule_cron: \"{i % 60} {1 + i % 5} * * *\""]
        env[f"AIRCALL_{name.upper()}_API_ID"] = f"id{i}"
        env[f"AIRCALL_{name.upper()}_API_TOKEN"] = f"token{i}"
    path = folder / f"accounts-{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, env


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        home = folder / "dagster_home"
        home.mkdir()
        for n in SIZES:
            path, extra = accounts_file(folder, n)
            env = {**os.environ, **extra, "AIRCALL_ACCOUNTS_FILE": str(path), "DAGSTER_HOME": str(home),
                   "PYTHONPATH": str(REPO)}
            validate, worker, ticks, shape = [], [], [], ""
            for _ in range(REPEATS):
                print(f"accounts={n}: validate", file=sys.stderr, flush=True)
                validate.append(timed([DAGSTER, "definitions", "validate", "-m", "aircall_pipeline.definitions"],
                                      env)[0])
                print(f"accounts={n}: run-worker load", file=sys.stderr, flush=True)
                seconds, shape = timed([PY, "-c", WORKER_LOAD], env)
                worker.append(seconds)
                print(f"accounts={n}: scheduler tick", file=sys.stderr, flush=True)
                ticks.append([float(x) for x in timed([PY, "-c", SCHEDULER_TICK], env)[1].split()])
            assets, jobs, sensors, schedules = shape.split()
            tick = [statistics.median(t[i] for t in ticks) for i in range(4)]
            rows.append((n, int(assets), int(jobs), int(sensors), int(schedules),
                         statistics.median(validate), statistics.median(worker), tick))
    base_validate, base_worker = rows[0][5], rows[0][6]
    out = ["## Definitions load for 1, 100 and 1,000 accounts (bench_accounts.py)", "",
           "Each figure is the median of 3 fresh processes. `validate` is `dagster definitions validate`; "
           "`run worker` is `load_defs()` plus the repository, its jobs and asset graph. Ratios are to 1 account "
           "(target: 1,000 accounts within 1.5 x).", "",
           "| accounts | asset keys | jobs | sensors | schedules | validate | ratio | run worker | ratio |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, assets, jobs, sensors, schedules, validate, worker, _ in rows:
        out.append(f"| {n:,} | {assets} | {jobs} | {sensors} | {schedules} | {validate:.2f} s | "
                   f"{validate / base_validate:.2f} | {worker:.2f} s | {worker / base_worker:.2f} |")
    out += ["", "The scheduler's tick (`aircall_daily_scheduler`), in process, medians of 3: parsing a changed "
            "accounts file, deciding every account's due day (all registered; `due now` is how many were due at the "
            "bench's clock), and reading the unchanged file again (cached on its stat).", "",
            "| accounts | parse the file | decide due days | unchanged file | due now |",
            "|---:|---:|---:|---:|---:|"]
    for n, *_, (parse, decide, cached, due) in rows:
        out.append(f"| {n:,} | {parse * 1000:.0f} ms | {decide * 1000:.0f} ms | {cached * 1000:.2f} ms | {due:.0f} |")
    out.append("")
    out.append("Before the accounts became a partition dimension (issue 16's own measure): 25 assets per account, "
               "4.5 s for 1 account, 22 s for 50, 230 s for 200.")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
