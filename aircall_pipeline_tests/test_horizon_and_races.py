"""The pipeline against the sandbox for what the API does at its edges: a number deleted between the
list and its detail, days past the call history horizon, and a day that has not settled yet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from aircall_pipeline.cli import main
from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_assets, build_resources
from aircall_pipeline.ingest.partitions import first_partition
from aircall_pipeline.ingest.timing import CALLS_SETTLE
from aircall_pipeline.names import key
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.partitions import pk, registered

TOKEN = "tok-races-SECRET"  # noqa: S105 - a fake credential of the sandbox
API_ID = "id-races"
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.fixture
def account() -> SandboxAccount:
    return SandboxAccount(seed=5, calls=50, days=3)


@pytest.fixture
def server(make_sandbox, account):
    return make_sandbox(account=account, api_id=API_ID, api_token=TOKEN, rate_limit=600, window_seconds=6)


@pytest.fixture
def env(monkeypatch, tmp_path, server, account) -> dict[str, str]:
    for name in ("AIRCALL_ACCOUNTS_FILE", "AIRCALL_HISTORY_DAYS", "AIRCALL_PARTITIONS_START"):
        monkeypatch.delenv(name, raising=False)
    values = deployment_env(server, account, tmp_path, api_id=API_ID, api_token=TOKEN)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_a_number_deleted_between_list_and_detail_is_recorded_as_vanished_and_the_day_completes(env, server,
                                                                                                 account):
    server.control(vanish_numbers=1)
    settings = Settings.from_env()
    keys = [key("numbers"), key("number_users")]
    instance = registered()
    result = dg.materialize(build_assets(settings), selection=keys, resources=build_resources(settings),
                            partition_key=pk(YESTERDAY), instance=instance, raise_on_error=False)
    assert result.success
    numbers = result.asset_value(key("numbers"))
    gone = account.numbers[0]["id"]
    assert len(numbers) == len(account.numbers), "the vanished number stays in the snapshot"
    assert numbers.set_index("number_id").loc[gone, "vanished"]
    assert int(numbers["vanished"].sum()) == 1
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(f"Number {gone} was listed" in message and "vanished" in message for message in logged)


def test_the_partitions_start_at_the_history_horizon(env, monkeypatch):
    monkeypatch.setenv("AIRCALL_HISTORY_DAYS", "30")
    settings = Settings.from_env()
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    assert first_partition(settings.account(None), settings, now) == "2026-11-02"
    monkeypatch.setenv("AIRCALL_PARTITIONS_START", "2026-11-20")  # a later start still wins
    settings = Settings.from_env()
    assert first_partition(settings.account(None), settings, now) == "2026-11-20"


def test_run_refuses_a_day_past_the_horizon_naming_it(env, server, monkeypatch, capsys):
    monkeypatch.setenv("AIRCALL_HISTORY_DAYS", "30")
    old = (date.today() - timedelta(days=40)).isoformat()
    assert main(["run", "--date", old]) == 2
    out = capsys.readouterr().out
    assert "past the history horizon" in out and "last 30 days (AIRCALL_HISTORY_DAYS)" in out
    assert server.stats()["requests"] == 0, "refused before a request is spent"


def test_run_of_the_current_day_waits_for_the_settle_window(env, server, capsys):
    today = datetime.now(UTC).date().isoformat()
    assert main(["run", "--date", today]) == 2
    out = capsys.readouterr().out
    assert "not final yet" in out
    assert server.stats()["requests"] == 0
    assert CALLS_SETTLE >= timedelta(minutes=30)
