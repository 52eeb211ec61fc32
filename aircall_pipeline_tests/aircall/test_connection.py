"""`aircall-pipeline check-connection`: one line, a distinct exit status per kind of failure."""

from __future__ import annotations

import argparse

import pytest
import requests

from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE
from aircall_pipeline.commands import check_connection as connection
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment pointing the check at a given URL with given credentials."""
    for name in ("AIRCALL_API_URL", "AIRCALL_API_ID", "AIRCALL_API_TOKEN", "AIRCALL_RATE_LIMIT_PER_MINUTE",
                 "AIRCALL_RATE_LIMIT_WINDOW_SECONDS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRCALL_LIMITER_URL", f"sqlite:///{tmp_path}/limiter.sqlite")

    def set_env(url=None, api_id=SANDBOX_API_ID, api_token=SANDBOX_API_TOKEN):
        for name, value in (("AIRCALL_API_URL", url), ("AIRCALL_API_ID", api_id), ("AIRCALL_API_TOKEN", api_token)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)

    return set_env


def run_check(capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    connection.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check-connection"])
    status = args.func(args)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert output.count("\n") == 1, output  # exactly one line
    return status, output.strip()


def test_connected(serve, env, capsys):
    server = serve(SandboxAccount(users=25, numbers=6, company_name="Northwind Trading"))
    env(server.url)
    status, line = run_check(capsys)
    assert status == 0
    assert line == f'Connected to {server.url} as company "Northwind Trading" (25 users, 6 numbers).'


def test_bad_key(serve, env, capsys):
    server = serve()
    env(server.url, api_token="wrong-token")  # noqa: S106
    status, line = run_check(capsys)
    assert status == connection.EXIT_AUTH == 3
    assert "rejected" in line and "HTTP 403" in line and NEW_KEY_ADVICE in line
    assert "wrong-token" not in line


def test_revoked_key(serve, env, capsys):
    server = serve(revoke_after=0)
    env(server.url)
    status, line = run_check(capsys)
    assert status == 3 and "HTTP 401" in line and "AIRCALL_API_TOKEN" in line


def test_unreachable(env, capsys):
    env("http://127.0.0.1:9")
    status, line = run_check(capsys)
    assert status == connection.EXIT_UNREACHABLE == 5
    assert line.startswith("Cannot reach http://127.0.0.1:9 (ConnectionError: ")
    assert "AIRCALL_API_URL" in line and "proxy" in line
    assert "could not reach" not in line and "gave up" not in line, "the network's reason, not the client's message"


def test_server_error(serve, env, capsys):
    server = serve(fail_5xx_next=50)
    env(server.url)
    status, line = run_check(capsys)
    assert status == 5 and "HTTP 50" in line


def test_rate_limited(serve, env, capsys):
    server = serve(rate_limit=1, window_seconds=3600)  # hourly: no boundary during the test
    requests.get(server.url + "/v1/ping", auth=(SANDBOX_API_ID, SANDBOX_API_TOKEN), timeout=5)  # another integration
    env(server.url)
    status, line = run_check(capsys)
    assert status == connection.EXIT_RATE_LIMITED == 4
    assert "answers 429" in line and "until 20" in line and "shared with every integration" in line
    assert server.stats()["rate_limited"] == 1  # one 429, then an answer: no waiting in a connection check


def test_missing_variables(env, capsys):
    env("https://api.aircall.io", api_id=None, api_token=None)
    status, line = run_check(capsys)
    assert status == connection.EXIT_CONFIG == 2
    assert "AIRCALL_API_ID and AIRCALL_API_TOKEN not set" in line
    assert NEW_KEY_ADVICE in line


@pytest.mark.parametrize("url", ["http://api.example.com", "ftp://api.aircall.io", "not a url"])
def test_bad_url(env, capsys, url):
    env(url)
    status, line = run_check(capsys)
    assert status == 2 and "AIRCALL_API_URL" in line


def test_bad_limiter_url(serve, env, capsys, monkeypatch):
    env(serve().url)
    monkeypatch.setenv("AIRCALL_LIMITER_URL", "postgres://nowhere")
    status, line = run_check(capsys)
    assert status == 2 and "AIRCALL_LIMITER_URL" in line


def test_a_429_seen_by_another_process_is_reported_without_asking_again(serve, env, capsys):
    server = serve(rate_limit=1, window_seconds=3600)  # hourly: no boundary during the test
    requests.get(server.url + "/v1/ping", auth=(SANDBOX_API_ID, SANDBOX_API_TOKEN), timeout=5)
    env(server.url)
    assert run_check(capsys)[0] == 4  # this one meets the 429 and notes the reset in the shared limiter
    status, line = run_check(capsys)
    assert status == 4 and line.startswith("A process sharing this request budget got 429")
    assert server.stats()["rate_limited"] == 1  # the second check sent nothing


def test_credentials_in_the_url_are_refused_without_echoing_them(env, capsys):
    env("https://id-77:tok-SECRET-in-url@api.aircall.io")
    status, line = run_check(capsys)
    assert status == connection.EXIT_CONFIG == 2
    assert "AIRCALL_API_URL" in line and "AIRCALL_API_TOKEN" in line
    assert "tok-SECRET-in-url" not in line and "id-77" not in line


@pytest.mark.parametrize("suffix", ["/v1", "/v1/", "/V2"])
def test_an_api_url_with_a_version_path_is_refused_with_the_root_to_use(serve, env, capsys, suffix):
    """Every request would otherwise go to /v1/v1/... and fail as a 404 with no hint."""
    server = serve()
    env(server.url + suffix)
    status, line = run_check(capsys)
    assert status == connection.EXIT_CONFIG
    assert f"AIRCALL_API_URL={server.url} " in line and "drop it" in line
    assert server.stats()["requests"] == 0
