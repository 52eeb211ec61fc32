"""The one scheduler of every account's day, the `aircall_daily_scheduler` sensor: which partition a
tick asks for (each live account's previous local day, once its cron time has passed in its
timezone), its run key and tags, and its status; then the real sensor daemon: one run per day
whatever the number of ticks, and a tick that fails (unusable settings, a variable missing in the
code server) before any run exists, which the scheduler-failure alert reports as `config`."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.storage.defs_state.base import set_defs_state_storage
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration

from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_defs
from aircall_pipeline.ingest.partitions import account_of_key, day_of
from aircall_pipeline.names import ACCOUNT_TAG, DAILY_JOB, PRIORITY_TAG, SCHEDULER_SENSOR
from aircall_pipeline.operations.dagster_internals import sensor_ticks
from aircall_pipeline.operations.schedule_failure_sensor import (
    build_schedule_failure_sensor,
    evaluate_schedule_failures,
)
from aircall_pipeline.operations.scheduler import build_scheduler
from aircall_pipeline_tests.operations.jobs import API_ID, SECRET_TOKEN
from aircall_pipeline_tests.operations.schedule_defs import CLOCK_VAR
from aircall_pipeline_tests.partitions import pk, registered

REPO_ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
SINGLE = f"api.aircall.io/{API_ID}"  # the single account's `aircall/account` tag


@pytest.fixture(autouse=True)
def _no_leaked_defs_state_storage():
    """Dagster keeps the "current" definitions-state storage in a context variable that entering an
    instance sets. The daemon workspace helpers these tests drive (`create_test_daemon_workspace_context`)
    leave it pointing at a disposed instance, and every later `Definitions` resolution in the same
    process then fails ("undefined DagsterInstance weakref"). Each test here runs inside its own
    setting of that variable, restored afterwards. Dagster has no public way to do this; the private
    import stays in this file, beside the private daemon helpers that cause the leak."""
    with set_defs_state_storage(None):
        yield


@pytest.fixture
def env(monkeypatch):
    for name in ("AIRCALL_SCHEDULE_CRON", "AIRCALL_SCHEDULE_DEFAULT_STATUS", "AIRCALL_API_URL", "AIRCALL_TIMEZONE",
                 "AIRCALL_ACCOUNTS_FILE", "AIRCALL_PARTITIONS_START", "AIRCALL_HISTORY_DAYS", CLOCK_VAR):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRCALL_API_ID", API_ID)
    monkeypatch.setenv("AIRCALL_API_TOKEN", SECRET_TOKEN)
    return monkeypatch


def entry(name: str, **extra) -> dict:
    return {"name": name, "api_id_env": f"AIRCALL_{name.upper()}_API_ID",
            "api_token_env": f"AIRCALL_{name.upper()}_API_TOKEN", **extra}


@pytest.fixture
def accounts(env, tmp_path):
    """`accounts(*entries)`: an accounts file holding them, in the environment."""
    def write(*entries: dict) -> Path:
        path = tmp_path / "accounts.yaml"
        path.write_text(yaml.safe_dump({"accounts": list(entries)}))
        env.setenv("AIRCALL_ACCOUNTS_FILE", str(path))
        return path

    return write


def tick(now: datetime, instance: dg.DagsterInstance | None = None):
    """One evaluation of the scheduler at `now` (on an instance where the single account is
    registered, by default)."""
    sensor = build_scheduler(clock=lambda: now)
    return sensor(dg.build_sensor_context(instance=instance if instance is not None else registered()))


def requests(result) -> list[dg.RunRequest]:
    return list(result.run_requests) if isinstance(result, dg.SensorResult) else []


def due(result) -> set[str]:
    """The partitions a tick asks for, as `<account>|<date>`."""
    return {str(r.partition_key) for r in requests(result)}


# ---- the sensor ------------------------------------------------------------------------------------


def test_one_running_scheduler_of_the_daily_job_whatever_the_accounts(accounts):
    accounts(entry("acme"), entry("globex", timezone="Asia/Tokyo"), entry("initech", paused=True))
    defs = build_defs(Settings.from_env())
    assert list(defs.schedules or []) == []  # no schedule per account any more: one sensor for all
    [scheduler] = [s for s in defs.sensors if s.name == SCHEDULER_SENSOR]
    assert scheduler.job_name == DAILY_JOB
    assert scheduler.default_status == dg.DefaultSensorStatus.RUNNING
    assert scheduler.minimum_interval_seconds == 60


def test_the_default_status_follows_the_settings(env):
    env.setenv("AIRCALL_SCHEDULE_DEFAULT_STATUS", "stopped")
    scheduler = build_defs(Settings.from_env()).resolve_sensor_def(SCHEDULER_SENSOR)
    assert scheduler.default_status == dg.DefaultSensorStatus.STOPPED


def test_tick_asks_for_the_previous_local_day_once_with_the_account_tag(env):
    env.setenv("AIRCALL_TIMEZONE", "Europe/Paris")
    result = tick(datetime(2026, 3, 10, 2, 15, tzinfo=PARIS))  # the default cron, 15 2 * * *
    [request] = requests(result)
    assert request.partition_key == pk("2026-03-09")
    assert str(request.partition_key) == "default|2026-03-09"
    # A sensor's run keys de-duplicate across all its ticks: the day is launched once.
    assert request.run_key == "default:2026-03-09"
    assert request.tags[ACCOUNT_TAG] == SINGLE
    assert request.tags[PRIORITY_TAG] == "10"
    assert SECRET_TOKEN not in str(request)
    # Every later tick of the day asks for the same day under the same key.
    later = requests(tick(datetime(2026, 3, 10, 23, 59, tzinfo=PARIS)))
    assert [(r.run_key, r.partition_key) for r in later] == [(request.run_key, request.partition_key)]

    # A minute before the cron time, nothing is due yet.
    early = tick(datetime(2026, 3, 10, 2, 14, tzinfo=PARIS))
    assert isinstance(early, dg.SkipReason)
    assert "0 account day(s) due" in early.skip_message


def test_the_cron_is_the_accounts(env):
    env.setenv("AIRCALL_SCHEDULE_CRON", "45 5 * * *")
    assert due(tick(datetime(2026, 3, 10, 5, 44, tzinfo=UTC))) == set()
    assert due(tick(datetime(2026, 3, 10, 5, 45, tzinfo=UTC))) == {"default|2026-03-09"}


def test_the_day_is_the_accounts_local_day_not_utc(env):
    env.setenv("AIRCALL_TIMEZONE", "Europe/Paris")
    env.setenv("AIRCALL_SCHEDULE_CRON", "15 0 * * *")
    # 00:45 in Paris on 10 March is 23:45 UTC on 9 March: Paris's previous day is 9 March.
    assert due(tick(datetime(2026, 3, 10, 0, 45, tzinfo=PARIS))) == {"default|2026-03-09"}
    # 00:20: the cron time has passed, but the day's calls are not final yet (the settle margin).
    assert due(tick(datetime(2026, 3, 10, 0, 20, tzinfo=PARIS))) == set()


def test_across_the_spring_dst_change_each_day_is_still_the_previous_day(env):
    env.setenv("AIRCALL_TIMEZONE", "Europe/Paris")
    # 29 March 2026 in Paris: 02:15 does not exist (02:00 -> 03:00); the cron fires at 03:00.
    assert due(tick(datetime(2026, 3, 29, 1, 30, tzinfo=PARIS))) == set()
    assert due(tick(datetime(2026, 3, 29, 3, 30, tzinfo=PARIS))) == {"default|2026-03-28"}
    # The next day asks for the 23-hour day of the change.
    assert due(tick(datetime(2026, 3, 30, 2, 15, tzinfo=PARIS))) == {"default|2026-03-29"}


def test_each_account_follows_its_own_timezone_and_cron(accounts):
    accounts(entry("acme", timezone="Europe/Paris", schedule_cron="0 3 * * *"),
             entry("globex", timezone="America/New_York"),
             entry("umbrella", timezone="Asia/Tokyo", schedule_cron="30 6 * * *"))
    instance = registered(None, "acme", "globex", "umbrella")

    # 02:30 UTC: 03:30 in Paris (its 03:00 has passed); 21:30 the day before in New York (its 02:15
    # of 9 March has passed: its previous day is the 8th); 11:30 in Tokyo (its 06:30 has passed).
    result = tick(datetime(2026, 3, 10, 2, 30, tzinfo=UTC), instance)
    assert due(result) == {"acme|2026-03-09", "globex|2026-03-08", "umbrella|2026-03-09"}
    for request in requests(result):
        account = account_of_key(str(request.partition_key))
        assert request.run_key == f"{account}:{day_of(str(request.partition_key))}"
        assert request.tags[ACCOUNT_TAG] == account  # the one-run-per-account limit's key
    # 01:30 UTC: 02:30 in Paris, before acme's 03:00.
    assert due(tick(datetime(2026, 3, 10, 1, 30, tzinfo=UTC), instance)) == {"globex|2026-03-08",
                                                                             "umbrella|2026-03-09"}
    # 21:30 UTC: 06:30 of 11 March in Tokyo; New York's 02:15 of 10 March has passed.
    assert due(tick(datetime(2026, 3, 10, 21, 30, tzinfo=UTC), instance)) == {
        "acme|2026-03-09", "globex|2026-03-09", "umbrella|2026-03-10"}


def test_paused_unregistered_and_removed_accounts_are_not_launched(accounts):
    accounts(entry("acme", schedule_cron="0 3 * * *"), entry("initech", paused=True), entry("hooli"))
    # hooli is not registered yet; oldco is registered but no longer in the file (removed).
    instance = registered(None, "acme", "initech", "oldco")
    now = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    assert due(tick(now, instance)) == {"acme|2026-03-09"}

    early = tick(datetime(2026, 3, 10, 2, 0, tzinfo=UTC), instance)  # before every cron time
    assert isinstance(early, dg.SkipReason)
    assert "0 account day(s) due; 1 paused; 1 not yet registered (of 3 accounts)" in early.skip_message

    # Once the registry sensor has added it, hooli's day is asked for at the next tick.
    registered(instance, "hooli")
    assert due(tick(now, instance)) == {"acme|2026-03-09", "hooli|2026-03-09"}


def test_before_the_first_partition_nothing_is_due(env):
    env.setenv("AIRCALL_PARTITIONS_START", "2026-03-10")
    result = tick(datetime(2026, 3, 10, 2, 15, tzinfo=UTC))
    assert isinstance(result, dg.SkipReason) and "0 account day(s) due" in result.skip_message
    assert due(tick(datetime(2026, 3, 11, 2, 15, tzinfo=UTC))) == {"default|2026-03-10"}


# ---- the real sensor daemon ----------------------------------------------------------------------------

QUEUED = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}}
# The code server's partitions start at the history horizon of the day it loads: the daemon's ticks
# happen today (02:16 UTC), and ask for yesterday.
TODAY_0216 = datetime.now(UTC).replace(hour=2, minute=16, second=0, microsecond=0)
YESTERDAY = (TODAY_0216.date() - timedelta(days=1)).isoformat()


@pytest.fixture
def daemon_env(env, tmp_path):
    """The code server's environment: the scheduler's clock, and a limiter file of its own."""
    env.setenv(CLOCK_VAR, TODAY_0216.isoformat())
    env.setenv("AIRCALL_LIMITER_URL", f"sqlite:///{tmp_path / 'limiter.sqlite'}")
    return env


def _sensor_ticks(instance, *times: datetime) -> None:
    """The real sensor daemon's iterations (and its gRPC code server, schedule_defs.py) at frozen times.
    Runs are queued (QueuedRunCoordinator), never executed."""
    target = ModuleTarget("aircall_pipeline_tests.operations.schedule_defs", "defs", str(REPO_ROOT), "ops_test")
    with create_test_daemon_workspace_context(target, instance) as workspace:
        for now in times:
            with freeze_time(now):
                list(execute_sensor_iteration(workspace, logging.getLogger("sensor"), None, None))


def _error_classes(error) -> list[str]:
    names = []
    while error is not None:
        names.append(error.cls_name)
        error = error.cause or error.context
    return names


@pytest.mark.slow
def test_real_sensor_daemon_creates_one_run_for_yesterday_with_tags(daemon_env):
    at = TODAY_0216
    with dg.instance_for_test(overrides=QUEUED) as instance:
        registered(instance)
        # Two ticks a few minutes apart both ask for the day: the run key keeps it to one run.
        _sensor_ticks(instance, at, at + timedelta(minutes=3))
        [run] = instance.get_runs()
        assert run.job_name == DAILY_JOB
        assert run.tags["dagster/partition"] == f"default|{YESTERDAY}"
        assert run.tags["dagster/run_key"] == f"default:{YESTERDAY}"
        assert run.tags[ACCOUNT_TAG] == SINGLE
        assert run.tags["dagster/sensor_name"] == SCHEDULER_SENSOR
        assert SECRET_TOKEN not in str(run.tags)
        # The adapter over Dagster's tick storage (operations/dagster_internals.py) reads them back.
        ticks = sensor_ticks(instance, SCHEDULER_SENSOR)
        assert len(ticks) == 2 and not any(t.failed or t.error for t in ticks)
        assert sensor_ticks(instance, "another_sensor") == []


def _alert_on_failed_tick(instance, at: datetime):
    """Tick the daemon once at `at`, check the failed tick as the adapter sees it, then run the
    scheduler-failure sensor twice, as it would have been watching since midnight."""
    cursor = str(at.replace(hour=0, minute=0).timestamp())
    _sensor_ticks(instance, at)
    assert instance.get_runs() == []
    [state] = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
               if s.instigator_name == SCHEDULER_SENSOR]
    [tick_] = instance.get_ticks(state.instigator_origin_id, state.selector_id)
    assert tick_.error is not None
    # What the adapter relies on: the same tick, seen as failed, with its error, and nothing after it.
    [seen] = sensor_ticks(instance, SCHEDULER_SENSOR)
    assert seen.failed and seen.timestamp == tick_.timestamp and seen.error == tick_.error
    assert sensor_ticks(instance, SCHEDULER_SENSOR, after=tick_.timestamp) == []

    # A sensor that starts watching now does not replay old failures.
    assert evaluate_schedule_failures(instance, None)[0] is None
    sensor = build_schedule_failure_sensor()
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    sensor(context)
    sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))  # nothing new
    return tick_


@pytest.mark.slow
def test_unusable_settings_fail_the_tick_and_alert_config_once(daemon_env, webhook):
    """The scheduler reads the settings when it ticks: with an unusable AIRCALL_API_URL the tick fails
    with the SettingsError instead of starting doomed runs; no run exists, so only the
    scheduler-failure sensor can report it."""
    daemon_env.setenv("AIRCALL_API_URL", "http://api.aircall.io")
    with dg.instance_for_test(overrides=QUEUED) as instance:
        registered(instance)
        failed = _alert_on_failed_tick(instance, TODAY_0216)
        assert "SettingsError" in _error_classes(failed.error)

    assert len(webhook.received) == 1
    alert = webhook.payloads[0]
    assert alert["kind"] == "config"
    assert SCHEDULER_SENSOR in alert["title"]
    assert "AIRCALL_API_URL" in alert["text"] and "SettingsError" in alert["text"]
    assert alert["details"]["missing_variables"] == []
    assert SECRET_TOKEN not in webhook.raw


@pytest.mark.slow
def test_a_variable_missing_in_the_code_server_fails_the_tick_and_alerts_once(daemon_env, webhook):
    """A variable the daily job's resources read when a run is created (schedule_defs.py:
    AIRCALL_LIMITER_URL) is not set where the code server runs: the daemon cannot even build the run,
    so no run (and no run-failure alert) exists. The scheduler-failure sensor names the variable."""
    daemon_env.delenv("AIRCALL_LIMITER_URL")
    with dg.instance_for_test(overrides=QUEUED) as instance:
        registered(instance)
        failed = _alert_on_failed_tick(instance, TODAY_0216)
        assert "DagsterInvalidConfigError" in _error_classes(failed.error)

    assert len(webhook.received) == 1
    alert = webhook.payloads[0]
    assert alert["kind"] == "config"
    assert "AIRCALL_LIMITER_URL not set" in alert["title"]
    assert alert["details"]["missing_variables"] == ["AIRCALL_LIMITER_URL"]
    assert "code server" in alert["text"]
