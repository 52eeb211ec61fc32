"""The shared limiter across unrelated processes: four workers, one SQLite file, one sandbox.

The sandbox counts requests in fixed windows aligned to its own clock, exactly like the company
counter it imitates; `max_in_window` is its fullest window and `rate_limited` its 429s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKERS = 4


def run_workers(api_url: str, limiter_url: str, per_window: int, window: float, each: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "aircall_pipeline_tests.aircall.limiter_worker",
             api_url, limiter_url, str(per_window), str(window), str(each)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for _ in range(WORKERS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_four_processes_never_exceed_the_shared_budget(serve, tmp_path):
    per_window, window, each = 12, 1.0, 12
    server = serve(rate_limit=per_window, window_seconds=window)
    results = run_workers(server.url, f"sqlite:///{tmp_path}/limiter.sqlite", per_window, window, each)

    stats = server.stats()
    assert stats["requests"] == WORKERS * each == sum(r["requests"] for r in results)
    assert stats["rate_limited"] == 0
    assert stats["max_in_window"] <= per_window


def test_four_processes_share_a_redis_budget(serve, redis_server):
    per_window, window, each = 12, 1.0, 6
    redis_server.client(5).flushdb()
    server = serve(rate_limit=per_window, window_seconds=window)
    run_workers(server.url, redis_server.url(5), per_window, window, each)
    stats = server.stats()
    assert stats["requests"] == WORKERS * each
    assert stats["rate_limited"] == 0 and stats["max_in_window"] <= per_window
