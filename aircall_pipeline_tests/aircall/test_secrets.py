"""The token never shows up: not in logs (any logger, any level), messages, reprs or tracebacks."""

from __future__ import annotations

import base64
import logging
import traceback
from datetime import UTC, datetime

import pytest

from aircall_pipeline.aircall import AircallError, RetryPolicy
from aircall_pipeline.sandbox.data import SandboxAccount

API_ID = "acct-id-for-secrets-test"
TOKEN = "tok-SECRET-7f3a9c-do-not-leak"  # noqa: S105 - the string the test hunts for
WRONG_TOKEN = "tok-WRONG-91bd2e-do-not-leak"  # noqa: S105


def forbidden_strings() -> list[str]:
    return [
        TOKEN,
        WRONG_TOKEN,
        base64.b64encode(f"{API_ID}:{TOKEN}".encode()).decode(),
        base64.b64encode(f"{API_ID}:{WRONG_TOKEN}".encode()).decode(),
        "Authorization",
    ]


def everything_about(error: BaseException) -> str:
    parts = ["".join(traceback.format_exception(error))]
    seen = error
    while seen is not None:
        parts += [str(seen), repr(seen), repr(getattr(seen, "args", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def test_no_secret_in_logs_errors_or_reprs(serve, connect, caplog, tmp_path, budgets):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    account = SandboxAccount(users=120, calls=400, days=2)
    server = serve(account, api_id=API_ID, api_token=TOKEN, rate_limit=3, window_seconds=1)
    budget = budgets(f"sqlite:///{tmp_path}/l.sqlite", per_minute=1000, window_seconds=1)
    retry = RetryPolicy(backoff_base=0.01, max_rate_limit_wait=30)
    client = connect(server, api_id=API_ID, api_token=TOKEN, retry=retry, budget=budget)
    texts = [repr(client), str(client), repr(client.stats), repr(budget)]

    # 429 waits, 5xx retries and a truncated body, all logged on the way.
    server.control(fail_5xx_next=2, malformed_json_next=1)
    assert len(list(client.iter_users())) == 120
    start = datetime.combine(account.first_day, datetime.min.time(), tzinfo=UTC)
    list(client.iter_call_pages(start, datetime.combine(account.anchor, datetime.min.time(), tzinfo=UTC)))
    assert client.stats.totals()["rate_limited"] > 0 and client.stats.totals()["retries"] > 0

    errors: list[BaseException] = []
    server.control(rate_limit=100_000)
    for change in ({"foreign_next_link": True}, {"malformed_json_next": 9}, {"fail_5xx_next": 9}, {"revoke_after": 0}):
        server.control(**change)
        with pytest.raises(AircallError) as caught:
            list(client.iter_users())
        errors.append(caught.value)
        server.control(foreign_next_link=False, malformed_json_next=0, fail_5xx_next=0, revoke_after=None)

    wrong = connect(server, api_id=API_ID, api_token=WRONG_TOKEN)
    with pytest.raises(AircallError) as caught:
        wrong.ping()
    errors.append(caught.value)

    server.control(rate_limit=1, window_seconds=60)
    impatient = connect(server, api_id=API_ID, api_token=TOKEN, retry=RetryPolicy(max_rate_limit_wait=0))
    with pytest.raises(AircallError) as caught:
        for _ in range(3):  # one request per window: at most two pass, even across a boundary
            impatient.ping()
    errors.append(caught.value)

    class Closed:
        url = "http://127.0.0.1:9"

    unreachable = connect(Closed(), api_id=API_ID, api_token=TOKEN, retry=RetryPolicy(max_retries=0), timeout=(1, 1))
    with pytest.raises(AircallError) as caught:
        unreachable.ping()
    errors.append(caught.value)

    assert {type(e).__name__ for e in errors} >= {
        "AircallAuthError",
        "AircallRateLimitError",
        "AircallServerError",
        "AircallResponseError",
    }
    texts += [everything_about(e) for e in errors]
    texts += [caplog.text] + [repr(r.__dict__) for r in caplog.records]
    assert "429 from" in caplog.text  # the logs we searched are the interesting ones
    for text in texts:
        for secret in forbidden_strings():
            assert secret not in text
