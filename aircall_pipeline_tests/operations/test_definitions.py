"""The operations Definitions load on their own and against the project's real job and assets; the
registry and the one scheduler of every account's day."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from aircall_pipeline.config.settings import Account, Settings
from aircall_pipeline.definitions import build_defs
from aircall_pipeline.names import (
    ACCOUNTS_PARTITIONS,
    DAILY_JOB,
    FAILED_CHECK_SENSOR,
    FRESHNESS_SENSOR,
    HISTORY_JOB,
    REGISTRY_SENSOR,
    REVIEWS_SENSOR,
    RUN_FAILURE_SENSOR,
    SCHEDULE_FAILURE_SENSOR,
    SCHEDULER_SENSOR,
    TAMPER_SENSOR,
)
from aircall_pipeline.operations.freshness import EVIDENCE_FRESHNESS_POLICY, EVIDENCE_KEY

# A tick of today: its day (yesterday) is inside the API's history horizon whenever the tests run.
TODAY_0215 = datetime.now(UTC).replace(hour=2, minute=15, second=0, microsecond=0)
SENSORS = {RUN_FAILURE_SENSOR, FAILED_CHECK_SENSOR, FRESHNESS_SENSOR, SCHEDULE_FAILURE_SENSOR, REVIEWS_SENSOR,
           TAMPER_SENSOR, REGISTRY_SENSOR, SCHEDULER_SENSOR}


def test_operations_defs_hold_the_sensors_and_jobs_and_no_schedule():
    operations_defs = build_defs(Settings.defaults())
    assert list(operations_defs.schedules or []) == []
    assert {s.name for s in operations_defs.sensors} == SENSORS
    for sensor in operations_defs.sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.fixture
def project_defs() -> dg.Definitions:
    """The root definitions, built afresh: contexts built on a Definitions object bind a weak
    reference to their instance, so the module-level `defs` is not shared with instance-bound tests."""
    return build_defs(Settings.from_env())


def test_merged_definitions_are_loadable(project_defs):
    dg.Definitions.validate_loadable(project_defs)
    assert project_defs.resolve_job_def(DAILY_JOB)
    history = project_defs.resolve_job_def(HISTORY_JOB)
    assert {k.to_user_string() for k in history.asset_layer.selected_asset_keys} == {"aircall/calls",
                                                                                      "aircall/call_windows"}
    assert project_defs.resolve_asset_graph().get(EVIDENCE_KEY).freshness_policy == EVIDENCE_FRESHNESS_POLICY


def generated(n: int) -> Settings:
    base = Settings.defaults()
    accounts = tuple(
        Account(name=f"acct_{i:04d}", api_url=base.default_account.api_url, evidence_uri=f"/tmp/evidence/acct_{i:04d}",
                timezone=("Europe/Paris", "America/New_York", "Asia/Tokyo", "UTC")[i % 4],
                rate_limit_per_minute=60, schedule_cron=base.default_account.schedule_cron,
                api_id_env=f"AIRCALL_ACCT_{i:04d}_API_ID", api_token_env=f"AIRCALL_ACCT_{i:04d}_API_TOKEN")
        for i in range(n))
    return replace(base, named_accounts=accounts)


def shape(defs: dg.Definitions) -> tuple:
    graph = defs.resolve_asset_graph()
    repo = defs.get_repository_def()
    return (len(list(graph.get_all_asset_keys())), sorted(j.name for j in repo.get_all_jobs()),
            sorted(s.name for s in defs.sensors), sorted(defs.resources))


def test_a_thousand_accounts_load_the_same_definitions_as_one():
    one, thousand = build_defs(Settings.defaults()), build_defs(generated(1000))
    assert shape(thousand) == shape(one)
    keys = {k.to_user_string() for k in thousand.resolve_asset_graph().get_all_asset_keys()}
    assert "aircall/users" in keys and "aircall/evidence_report" in keys
    assert not any("acct_" in k for k in keys)


def registry_and_scheduler(defs):
    return defs.resolve_sensor_def(REGISTRY_SENSOR), defs.resolve_sensor_def(SCHEDULER_SENSOR)


def write_accounts(path, *entries: dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump({"accounts": list(entries)}))


def entry(name: str, **extra) -> dict:
    return {"name": name, "api_id_env": f"AIRCALL_{name.upper()}_API_ID",
            "api_token_env": f"AIRCALL_{name.upper()}_API_TOKEN", "evidence_uri": f"/tmp/ev/{name}", **extra}


@pytest.fixture
def accounts_file(tmp_path, monkeypatch):
    path = tmp_path / "accounts.yaml"
    write_accounts(path, entry("acme"))
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(path))
    for name in ("AIRCALL_PARTITIONS_START", "AIRCALL_TIMEZONE", "AIRCALL_SCHEDULE_CRON"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_an_account_added_to_the_file_becomes_a_partition_without_rebuilding(accounts_file):
    defs = build_defs(Settings.from_env())
    registry, _ = registry_and_scheduler(defs)
    with dg.instance_for_test() as instance:
        result = registry(dg.build_sensor_context(instance=instance, definitions=defs))
        [request] = result.dynamic_partitions_requests
        assert request.partition_keys == ["acme"]
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, list(request.partition_keys))
        # The file changes; the same definitions (no reload) see the new account at the next tick.
        write_accounts(accounts_file, entry("acme"), entry("globex", timezone="Asia/Tokyo"))
        result = registry(dg.build_sensor_context(instance=instance, definitions=defs))
        [request] = result.dynamic_partitions_requests
        assert request.partition_keys == ["globex"]
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, ["globex"])
        # A removed account keeps its partition (and its evidence): nothing is deleted.
        write_accounts(accounts_file, entry("globex", timezone="Asia/Tokyo"))
        result = registry(dg.build_sensor_context(instance=instance, definitions=defs))
        assert isinstance(result, dg.SkipReason)
        assert set(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS)) == {"acme", "globex"}


def tick(sensor, defs, instance, now):
    from aircall_pipeline.operations import scheduler

    context = dg.build_sensor_context(instance=instance, definitions=defs)
    real = scheduler.datetime

    class Frozen(real):
        @classmethod
        def now(cls, tz=None):
            return now.astimezone(tz) if tz else now

    scheduler.datetime = Frozen
    try:
        return sensor(context)
    finally:
        scheduler.datetime = real


def test_the_scheduler_launches_each_day_once_with_an_every_minute_cron(accounts_file):
    write_accounts(accounts_file, entry("acme", schedule_cron="* * * * *"))
    defs = build_defs(Settings.from_env())
    _, scheduler_sensor = registry_and_scheduler(defs)
    day = (TODAY_0215.date() - timedelta(days=1)).isoformat()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, ["acme"])
        requests = []
        for minute in range(5):  # five ticks a minute apart, each after the cron time
            result = tick(scheduler_sensor, defs, instance, TODAY_0215 + timedelta(minutes=minute))
            requests += list(getattr(result, "run_requests", None) or [])
        assert {r.run_key for r in requests} == {f"acme:{day}"}  # one key: Dagster launches it once
        request = requests[0]
        assert request.partition_key == f"acme|{day}"
        assert request.tags["aircall/account"] == "acme"
        assert request.tags["dagster/priority"] == "10"


def test_the_scheduler_follows_each_account_clock_and_skips_paused(accounts_file):
    write_accounts(accounts_file, entry("acme", timezone="Europe/Paris", schedule_cron="0 3 * * *"),
                   entry("initech", paused=True), entry("globex", timezone="America/New_York"))
    defs = build_defs(Settings.from_env())
    _, scheduler_sensor = registry_and_scheduler(defs)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, ["acme", "initech", "globex"])
        today = TODAY_0215.date()
        # 02:30 UTC: 03:30 in Paris (its 03:00 has passed: its yesterday is due); in New York it is
        # still the evening of the UTC day before, whose 02:15 has passed: its own previous day.
        result = tick(scheduler_sensor, defs, instance, TODAY_0215.replace(hour=2, minute=30))
        keys = {r.partition_key for r in result.run_requests}
        assert keys == {f"acme|{today - timedelta(days=1)}", f"globex|{today - timedelta(days=2)}"}
        # 01:00 UTC: Paris is at 02:00, before its 03:00: nothing of acme's.
        result = tick(scheduler_sensor, defs, instance, TODAY_0215.replace(hour=1, minute=0))
        assert {r.partition_key for r in result.run_requests} == {f"globex|{today - timedelta(days=2)}"}
        # 08:00 UTC: New York's 02:15 has passed too; the paused account never runs.
        result = tick(scheduler_sensor, defs, instance, TODAY_0215.replace(hour=8, minute=0))
        assert {r.partition_key for r in result.run_requests} == {f"acme|{today - timedelta(days=1)}",
                                                                   f"globex|{today - timedelta(days=1)}"}
