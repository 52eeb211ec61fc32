"""The deployed limiter on a real Redis: separate processes, each configured only by the environment
compose and Helm give it (AIRCALL_LIMITER_URL=redis://...), share one Aircall budget.

The sandbox is the arbiter, like Aircall's own per-company counter: it counts requests in fixed
windows and answers 429 beyond the limit. A negative control runs the same pods with a per-process
budget (`memory://`) and shows the sandbox does catch an excess, so the zero is meaningful.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aircall_pipeline_tests.deploy.conftest import base_env
from aircall_pipeline_tests.fixtures.sandbox import sandbox_env

REPO = Path(__file__).resolve().parents[2]
PODS = 4
EACH = 6
PER_WINDOW = 6  # the budget: 6 requests per 1 s window (the real 60 / 60 s, compressed)
WINDOW = 1.0


def run_pods(tmp_path: Path, env: dict[str, str]) -> list[dict]:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(PODS)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aircall_pipeline_tests.deploy.limiter_pod",
                str(EACH),
                str(ready[i]),
                str(go),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(PODS)
    ]
    try:
        deadline = time.monotonic() + 90
        while not all(r.exists() for r in ready):
            assert all(p.poll() is None for p in procs), [
                p.communicate()[1][-2000:] for p in procs if p.poll()
            ]
            assert time.monotonic() < deadline, "pods did not start"
            time.sleep(0.05)
        go.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def pod_env(server, limiter_url: str) -> dict[str, str]:
    return {
        **base_env(),
        **sandbox_env(server),
        "PYTHONPATH": str(REPO),
        "AIRCALL_LIMITER_URL": limiter_url,
        "AIRCALL_RATE_LIMIT_PER_MINUTE": str(PER_WINDOW),
        "AIRCALL_RATE_LIMIT_WINDOW_SECONDS": str(int(WINDOW)),
    }


def max_in_any_window(stamps: list[float], width: float) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, start in enumerate(stamps):
        while j < len(stamps) and stamps[j] < start + width:
            j += 1
        best = max(best, j - i)
    return best


@pytest.mark.slow
def test_pods_sharing_a_redis_budget_never_exceed_it(redis_server, make_sandbox, tmp_path):
    redis_server.client(9).flushdb()
    server = make_sandbox(rate_limit=PER_WINDOW, window_seconds=WINDOW)
    results = run_pods(tmp_path, pod_env(server, redis_server.url(9)))

    stats = server.stats()
    assert stats["requests"] == PODS * EACH == sum(r["stats"]["requests"] for r in results)
    assert stats["rate_limited"] == 0, stats
    assert all(r["stats"]["rate_limited"] == 0 for r in results)
    # Measured by the pods' own clocks too: never more than the budget in any sliding window.
    stamps = [t for r in results for t in r["answered"]]
    assert max_in_any_window(stamps, WINDOW) <= PER_WINDOW
    # And the budget really was shared: 24 requests at 6 per window need at least 3 more windows
    # after the first (four separate budgets would have let all 24 through at once).
    assert max(stamps) - min(stamps) >= (PODS * EACH / PER_WINDOW - 1) * WINDOW
    # The state lived in Redis (the key the deployment's pods share).
    assert redis_server.client(9).dbsize() > 0


@pytest.mark.slow
def test_control_per_process_budgets_overrun_the_account(make_sandbox, tmp_path):
    server = make_sandbox(rate_limit=PER_WINDOW, window_seconds=WINDOW)
    run_pods(tmp_path, pod_env(server, "memory://"))
    assert server.stats()["rate_limited"] > 0, "without a shared budget the sandbox should have seen 429s"


def test_limiter_pod_reads_only_the_documented_variables():
    text = (Path(__file__).parent / "limiter_pod.py").read_text()
    assert "os.environ" not in text  # everything comes through Settings / credentials_from_env
