"""Helpers for the Aircall client tests: real sandbox servers on loopback, fast retry policies.

Servers come from the project's `make_sandbox` fixture (aircall_pipeline_tests/fixtures/sandbox.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from aircall_pipeline.aircall import AircallClient, RequestBudget, RetryPolicy
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN, SandboxServer

# Retries in milliseconds, not seconds: the tests check what is retried, not how long it takes.
FAST_RETRY = RetryPolicy(backoff_base=0.01, backoff_cap=0.05, jitter_fraction=0.02)


@pytest.fixture
def serve(make_sandbox) -> Callable[..., SandboxServer]:
    """serve(account=None, **SandboxServer options) -> a started sandbox (the project's make_sandbox),
    with no practical rate limit unless one is asked for."""

    def start(account: SandboxAccount | None = None, **options) -> SandboxServer:
        options.setdefault("rate_limit", 100_000)
        options.setdefault("window_seconds", 60)
        if account is not None:
            options["account"] = account
        return make_sandbox(**options)

    return start


@pytest.fixture
def connect() -> Iterator[Callable[..., AircallClient]]:
    """connect(server, **AircallClient options) -> a client on the sandbox's credentials, closed after."""
    clients: list[AircallClient] = []

    def make(server: SandboxServer, *, api_id=SANDBOX_API_ID, api_token=SANDBOX_API_TOKEN, **options) -> AircallClient:
        options.setdefault("retry", FAST_RETRY)
        client = AircallClient(api_id, api_token, api_url=server.url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def budgets() -> Iterator[Callable[..., RequestBudget]]:
    made: list[RequestBudget] = []

    def make(url: str, **kwargs) -> RequestBudget:
        budget = RequestBudget.from_url(url, **kwargs)
        made.append(budget)
        return budget

    yield make
    for budget in made:
        budget.close()


def record_urls(client: AircallClient) -> list[str]:
    """Every URL the client's session really sent (a response hook: real HTTP, nothing mocked)."""
    sent: list[str] = []

    def hook(response: requests.Response, *args, **kwargs):
        sent.append(response.request.url)

    client._session.hooks["response"].append(hook)
    return sent
