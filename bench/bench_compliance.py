"""Benchmark: the compliance derivations over a 90-day, 1,000,000-call history.

Writes synthetic daily call partitions (parquet, pyarrow) to a temporary folder, then times what the
compliance assets do with them:

- `activity_from_calls` streamed over the partitions, reading only `user_id` and `started_at`;
- `dormant_accounts` on the resulting per-user activity;
- `recording_posture` over one day, and over the 90 days (reading only the five columns it needs).

Prints one Markdown section on stdout (scripts/bench.py collects the stdout of every bench/bench_*.py
into bench/RESULTS.md); progress goes to stderr. Target: all derivations over 1,000,000 calls in under
10 s on a 2-core machine. Run: `.venv/bin/python bench/bench_compliance.py [--calls N --days N ...]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aircall_pipeline.compliance import rules  # noqa: E402

TARGET_SECONDS = 10.0
ACTIVITY_COLUMNS = ["user_id", "started_at"]
RECORDING_COLUMNS = ["started_at", "answered_at", "has_recording", "team_ids", "number_id"]
CALL_SCHEMA = pa.schema([
    ("call_id", pa.int64()), ("direction", pa.string()), ("status", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")), ("answered_at", pa.timestamp("us", tz="UTC")),
    ("ended_at", pa.timestamp("us", tz="UTC")), ("duration", pa.int64()), ("user_id", pa.int64()),
    ("number_id", pa.int64()), ("team_ids", pa.string()), ("external_country_code", pa.string()),
    ("has_recording", pa.bool_()), ("has_voicemail", pa.bool_()),
])
# Read nullable integer columns as pandas' Int64, as the evidence store's parquet (written by pandas) does.
TYPES = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}.get


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def generate(folder: Path, *, calls: int, days: int, users: int, end: pd.Timestamp, seed: int) -> dict:
    """Daily partitions `date=YYYY-MM-DD/calls.parquet`, generated and written one day at a time."""
    rng = np.random.default_rng(seed)
    # A realistic skew: a few heavy callers, a long tail, and some users who never call (dormant).
    silent = max(users // 10, 1)
    weights = 1.0 / np.arange(1, users - silent + 1) ** 0.8
    weights /= weights.sum()
    active_ids = np.arange(1, users - silent + 1, dtype=np.int64) + 10_000_000
    teams = np.array(["1", "2", "3", "4", "5", "6", "1;2", "3;4", "5;6;7", "8"], dtype=object)
    per_day = np.full(days, calls // days)
    per_day[: calls % days] += 1
    start = end - pd.Timedelta(days=days)
    call_id = 4_000_000_000  # Aircall call ids are above 2**31
    total_bytes = 0
    for d in range(days):
        n = int(per_day[d])
        day = start + pd.Timedelta(days=d)
        started = day.value // 1000 + np.sort(rng.integers(0, 86_400_000_000, n))
        inbound = rng.random(n) < 0.6
        answered = rng.random(n) < 0.7
        user = rng.choice(active_ids, size=n, p=weights)
        user_null = ~answered & inbound  # missed inbound calls have no user
        ring = rng.integers(2_000_000, 30_000_000, n)
        talk = rng.integers(10_000_000, 900_000_000, n)
        answered_at = started + ring
        ended = np.where(answered, answered_at + talk, started + ring)
        table = pa.table({
            "call_id": pa.array(np.arange(call_id, call_id + n, dtype=np.int64)),
            "direction": pa.array(np.where(inbound, "inbound", "outbound")),
            "status": pa.array(np.full(n, "done", dtype=object)),
            "started_at": pa.array(started, type=pa.timestamp("us", tz="UTC")),
            "answered_at": pa.array(answered_at, type=pa.timestamp("us", tz="UTC"), mask=~answered),
            "ended_at": pa.array(ended, type=pa.timestamp("us", tz="UTC")),
            "duration": pa.array((ended - started) // 1_000_000),
            "user_id": pa.array(user, mask=user_null),
            "number_id": pa.array(rng.integers(1, 51, n, dtype=np.int64)),
            "team_ids": pa.array(rng.choice(teams, n), mask=~inbound),
            "external_country_code": pa.array(rng.choice(np.array(["+33", "+44", "+1", "anonymous"], dtype=object), n)),
            "has_recording": pa.array(answered & (rng.random(n) < 0.6)),
            "has_voicemail": pa.array(~answered & inbound & (rng.random(n) < 0.3)),
        }, schema=CALL_SCHEMA)
        call_id += n
        path = folder / f"date={day.strftime('%Y-%m-%d')}" / "calls.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(table, path, compression="zstd")
        total_bytes += path.stat().st_size
    return {"silent_users": silent, "bytes": total_bytes, "start": start, "end": end}


def partitions(folder: Path) -> list[Path]:
    return sorted(folder.glob("date=*/calls.parquet"))


def read(path: Path, columns: list[str]) -> pd.DataFrame:
    return pq.read_table(path, columns=columns).to_pandas(types_mapper=TYPES)


def stream(paths: list[Path], columns: list[str]) -> Iterator[pd.DataFrame]:
    for path in paths:
        yield read(path, columns)


def timed(fn: Callable[[], object], repeat: int) -> tuple[object, list[float], float]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, times, peak_rss_mb()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions of each step (median reported)")
    parser.add_argument("--seed", type=int, default=20260301)
    args = parser.parse_args(argv)

    end = pd.Timestamp("2026-03-01T00:00:00Z")
    users = pd.DataFrame({
        "user_id": np.arange(1, args.users + 1, dtype=np.int64) + 10_000_000,
        "email": [f"agent{i}@example.com" for i in range(args.users)],
        "name": [f"Agent {i}" for i in range(args.users)],
        "created_at": pd.Series(pd.Timestamp("2025-01-01T00:00:00Z"), index=range(args.users)).astype(rules.UTC_DTYPE),
    })
    baseline = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-compliance-") as tmp:
        folder = Path(tmp)
        print(f"generating {args.calls:,} calls over {args.days} days in {folder} ...", file=sys.stderr)
        t0 = time.perf_counter()
        info = generate(folder, calls=args.calls, days=args.days, users=args.users, end=end, seed=args.seed)
        gen_seconds = time.perf_counter() - t0
        gen_rss = peak_rss_mb()
        paths = partitions(folder)
        one_day = read(paths[-1], RECORDING_COLUMNS)

        print("timing ...", file=sys.stderr)
        activity, t_act, rss_act = timed(lambda: rules.activity_from_calls(stream(paths, ACTIVITY_COLUMNS)), args.repeat)
        window = min(90, args.days)  # PCI DSS 8.2.6's 90 days, or the whole history of a smaller run
        dormant, t_dorm, rss_dorm = timed(lambda: rules.dormant_accounts(
            users, activity, as_of=end, covered_from=info["start"], covered_to=end, days=window), args.repeat)
        rec_day, t_day, rss_day = timed(lambda: rules.recording_posture(one_day, policy="required", min_share=0.5),
                                        args.repeat)

        def ninety_days():
            calls = pd.concat(stream(paths, RECORDING_COLUMNS), ignore_index=True)
            return calls, rules.recording_posture(calls, policy="required", min_share=0.5)

        (all_calls, rec_all), t_all, rss_all = timed(ninety_days, args.repeat)
        # The evaluation alone, without the parquet reads.
        _, t_eval, _ = timed(lambda: rules.recording_posture(all_calls, policy="required", min_share=0.5), args.repeat)

    # Correctness: every user of the synthetic "silent" tail is dormant, and nobody else is.
    assert int(activity["calls"].sum()) <= args.calls
    assert dormant.status == "fail" and dormant.observed == info["silent_users"], (dormant.observed, info)
    assert len(all_calls) == args.calls and rec_all.status in ("pass", "warn")

    med = statistics.median
    total = med(t_act) + med(t_dorm) + med(t_all)
    rows = [
        ("`activity_from_calls`, streamed over the partitions (reads `user_id`, `started_at`)", args.calls, t_act, rss_act),
        (f"`dormant_accounts` ({args.users:,} users, {window}-day window)", args.users, t_dorm, rss_dorm),
        ("`recording_posture`, one day (in memory)", len(one_day), t_day, rss_day),
        (f"`recording_posture`, {args.days} days: read 5 columns of every partition + evaluate", args.calls, t_all, rss_all),
        (f"`recording_posture`, {args.days} days: evaluation only (calls already in memory)", args.calls, t_eval, rss_all),
    ]
    out = [
        "## Compliance derivations over stored call partitions",
        "",
        f"Synthetic history: {args.calls:,} calls in {args.days} daily parquet partitions "
        f"({info['bytes'] / 1e6:.1f} MB, zstd, written with pyarrow), {args.users:,} users with a skewed call "
        f"distribution of whom {info['silent_users']} never call, 10 team combinations, 50 numbers. "
        f"Generation took {gen_seconds:.1f} s (not a derivation). "
        f"Machine: {os.cpu_count()} CPU(s), Python {platform.python_version()}, pandas {pd.__version__}, "
        f"pyarrow {pa.__version__}. Times are the median of {args.repeat} runs (min–max in brackets); "
        "peak RSS is the process's high-water mark after the step (`getrusage`).",
        "",
        "| step | rows | wall time | peak RSS |",
        "|---|---:|---:|---:|",
    ]
    for label, n, times, rss in rows:
        out.append(f"| {label} | {n:,} | {med(times):.2f} s ({min(times):.2f}–{max(times):.2f}) | {rss:.0f} MB |")
    verdict = "met" if total < TARGET_SECONDS else "**missed**"
    out += [
        f"| **derivations over {args.calls:,} calls** (activity + dormant + {args.days}-day recording) | "
        f"{args.calls:,} | **{total:.2f} s** | {peak_rss_mb():.0f} MB |",
        "",
        f"Target: under {TARGET_SECONDS:.0f} s — {verdict}. Baseline RSS after imports: {baseline:.0f} MB; after "
        f"generating the partitions: {gen_rss:.0f} MB. Results: AC-06 {dormant.status} ({dormant.observed} dormant, "
        f"the {info['silent_users']} silent users exactly); AC-10 {rec_all.status}, recording share "
        f"{rec_all.observed:.1%} over {args.days} days.",
        "",
    ]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
