"""One of several independent processes sharing a RequestBudget (run by test_limiter_processes.py).

    python -m aircall_pipeline_tests.aircall.limiter_worker API_URL LIMITER_URL PER_WINDOW WINDOW_S REQUESTS

Prints one JSON line: the client's request statistics.
"""

from __future__ import annotations

import json
import sys

from aircall_pipeline.aircall import AircallClient, RequestBudget, RetryPolicy
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN


def main(argv: list[str]) -> int:
    api_url, limiter_url, per_window, window, requests = argv
    budget = RequestBudget.from_url(limiter_url, per_minute=int(per_window), window_seconds=float(window))
    # No 429 is expected; if one came, fail fast rather than hide it behind a wait.
    retry = RetryPolicy(max_rate_limit_wait=0, max_retries=0)
    with budget, AircallClient(SANDBOX_API_ID, SANDBOX_API_TOKEN, api_url=api_url, budget=budget, retry=retry) as client:
        for _ in range(int(requests)):
            client.ping()
        print(json.dumps(client.stats.totals()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
