"""One "pod" of a deployment, for test_redis_limiter.py: a separate process that configures itself
from the environment only, exactly as a code server or a run pod does (Settings.from_env() and the
credentials from AIRCALL_API_ID/TOKEN), then calls the API through the project's AircallResource.

    python -m aircall_pipeline_tests.deploy.limiter_pod REQUESTS READY_FILE GO_FILE

Writes READY_FILE once imported and configured, waits for GO_FILE (so every pod starts calling at the
same moment), makes REQUESTS calls, and prints one JSON line: the wall-clock time of each answer and
the client's request statistics.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from aircall_pipeline.config.settings import Settings, credentials_from_env
from aircall_pipeline.resources.aircall import AircallResource


def main(argv: list[str]) -> int:
    requests, ready, go = int(argv[0]), Path(argv[1]), Path(argv[2])
    settings = Settings.from_env()
    api_id, api_token = credentials_from_env()
    resource = AircallResource(
        api_id=api_id,
        api_token=api_token,
        api_url=settings.default_account.api_url,
        rate_limit_per_minute=settings.default_account.rate_limit_per_minute,
        rate_limit_window_seconds=settings.rate_limit_window_seconds,
        limiter_url=settings.limiter_url,
    )
    ready.touch()
    deadline = time.monotonic() + 60
    while not go.exists():
        if time.monotonic() > deadline:
            raise SystemExit("never told to start")
        time.sleep(0.01)
    answered = []
    with resource.client() as client:
        for _ in range(requests):
            client.ping()
            answered.append(time.time())
        totals = client.stats.totals()
    print(json.dumps({"answered": answered, "stats": totals}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
