"""`aircall-pipeline check-connection`: the "connect" step, answered in one line within seconds.

Calls /v1/ping, then /v1/company, with the configured key and says plainly what is wrong and what
to do. Exit status: 0 connected, 2 configuration, 3 key rejected, 4 rate-limited, 5 unreachable or
server error. A command of the app beside the others (it reads the configuration), outside the
plain client library in aircall/.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from aircall_pipeline.aircall.budget import RequestBudget
from aircall_pipeline.aircall.client import AircallClient
from aircall_pipeline.aircall.errors import (
    NEW_KEY_ADVICE,
    RATE_LIMIT_ADVICE,
    AircallAuthError,
    AircallError,
    AircallRateLimitError,
    AircallServerError,
)
from aircall_pipeline.aircall.retry import RetryPolicy
from aircall_pipeline.commands.accounts import add_account_option, selected_account
from aircall_pipeline.commands.exit_codes import (
    EXIT_AUTH,
    EXIT_OK,
    EXIT_RATE_LIMITED,
    EXIT_UNREACHABLE,
    EXIT_UNUSABLE,
)
from aircall_pipeline.config.settings import Account, Settings, SettingsError, credentials_from_env
from aircall_pipeline.timestamps import iso_utc

EXIT_CONFIG = EXIT_UNUSABLE  # the name this command's callers have known code 2 by (exit_codes.py)

# A connection check should answer within seconds: no waiting out a 429, two quick retries of a
# network error, short timeouts, and at most a few seconds in the queue of the shared budget.
CHECK_RETRY = RetryPolicy(max_rate_limit_wait=0, max_retries=2, backoff_base=0.5, backoff_cap=2.0, max_malformed_retries=1)
CHECK_TIMEOUT = (3.0, 10.0)
CHECK_BUDGET_WAIT = 5.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check-connection",
        help="check the Aircall API key and reachability (calls /v1/ping and /v1/company)",
        description=(
            "Calls /v1/ping and /v1/company with AIRCALL_API_ID / AIRCALL_API_TOKEN against AIRCALL_API_URL "
            "and prints one line: the company reached, or what is wrong and what to do. Exit status: "
            "0 connected, 2 configuration, 3 key rejected, 4 rate-limited, 5 unreachable or server error."
        ),
    )
    add_account_option(parser)
    parser.set_defaults(func=run)


def _quiet_logger() -> logging.Logger:
    """The one-line contract: the client's retry chatter must not reach the terminal."""
    logger = logging.Logger("aircall_pipeline.check_connection")
    logger.addHandler(logging.NullHandler())
    return logger


def check(settings: Settings, api_id: str, api_token: str, account: Account | None = None) -> tuple[int, str]:
    """(exit status, the one line to print), for `account` (default: the only one)."""
    account = account or settings.account(None)
    url = account.api_url
    try:
        budget = RequestBudget.from_url(
            settings.limiter_url,
            per_minute=account.rate_limit_per_minute,
            window_seconds=settings.rate_limit_window_seconds,
            name=account.budget,
        )
    except (ValueError, OSError) as exc:
        return EXIT_UNUSABLE, f"Cannot use AIRCALL_LIMITER_URL: {exc}"
    paused = budget.paused_until()
    if paused is not None and paused - time.time() > CHECK_BUDGET_WAIT:
        budget.close()
        return EXIT_RATE_LIMITED, _rate_limited_line(url, paused, seen_here=False)
    try:
        with AircallClient(
            api_id,
            api_token,
            api_url=url,
            budget=budget,
            retry=CHECK_RETRY,
            timeout=CHECK_TIMEOUT,
            logger=_quiet_logger(),
            acquire_timeout=CHECK_BUDGET_WAIT,
        ) as client:
            client.ping()
            company = client.company()
    except AircallAuthError as exc:
        return EXIT_AUTH, (
            f"The API key was rejected by {url} (HTTP {exc.status}): AIRCALL_API_ID / AIRCALL_API_TOKEN are "
            f"wrong or the key was revoked. {NEW_KEY_ADVICE}"
        )
    except AircallRateLimitError as exc:
        if exc.reset_at is not None:
            return EXIT_RATE_LIMITED, _rate_limited_line(url, exc.reset_at, seen_here=exc.status == 429)
        return EXIT_RATE_LIMITED, (
            f"Not checked: the shared request budget ({budget.per_window_description}) is fully used by "
            "other processes of this pipeline right now. Try again in a minute."
        )
    except AircallServerError as exc:
        if exc.status is None:
            return EXIT_UNREACHABLE, (
                f"Cannot reach {url} ({exc.reason or exc}). Check AIRCALL_API_URL, the network, DNS and any "
                "HTTPS proxy (HTTPS_PROXY / NO_PROXY)."
            )
        return EXIT_UNREACHABLE, (
            f"{url} answered HTTP {exc.status} (a server-side error) after retries. Aircall may be having an "
            "incident; try again later (status: https://status.aircall.io)."
        )
    except AircallError as exc:
        return EXIT_UNREACHABLE, f"Unexpected answer from {url}: {exc}. Check that AIRCALL_API_URL is the Aircall API root."
    finally:
        budget.close()
    return EXIT_OK, (
        f'Connected to {url} as company "{company.get("name", "?")}" '
        f"({company.get('users_count', '?')} users, {company.get('numbers_count', '?')} numbers)."
    )


def _rate_limited_line(url: str, reset_at: float, *, seen_here: bool) -> str:
    when = iso_utc(reset_at, timespec="seconds")
    source = (
        f"{url} answers 429 Too Many Requests"
        if seen_here
        else "A process sharing this request budget got 429 Too Many Requests from Aircall"
    )
    return (
        f"{source}: the account's API budget is exhausted until {when}; try again after that time. "
        f"{RATE_LIMIT_ADVICE}"
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings, account = selected_account(args)
        api_id, api_token = credentials_from_env(account)
    except SettingsError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    status, line = check(settings, api_id, api_token, account)
    print(line, file=sys.stdout if status == EXIT_OK else sys.stderr)
    return status
