"""The daily schedule: which partition a tick asks for, its tags, its status; and the scheduler's own
failure mode when a credential is missing in the code server (the tick fails, no run exists)."""

import logging
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from aircall_pipeline.operations.schedules import build_evidence_schedule, previous_completed_partition
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.storage.defs_state.base import set_defs_state_storage
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._scheduler.scheduler import launch_scheduled_runs

from aircall_pipeline.names import SINGLE_ACCOUNT
from aircall_pipeline.operations.dagster_internals import schedule_ticks
from aircall_pipeline.operations.sensors import build_schedule_failure_sensor, evaluate_schedule_failures
from aircall_pipeline.settings import Settings
from aircall_pipeline_tests.operations.jobs import API_ID, SECRET_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[2]
PARIS = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="Europe/Paris")


@dg.asset(partitions_def=PARIS, key=["aircall", "users"])
def users_paris() -> int:
    return 1


def _defs(schedule: dg.ScheduleDefinition) -> dg.Definitions:
    return dg.Definitions(assets=[users_paris], schedules=[schedule],
                          jobs=[dg.define_asset_job(SINGLE_ACCOUNT.daily_job, selection=[users_paris])])


def _tick(schedule: dg.ScheduleDefinition, when: datetime):
    defs = _defs(schedule)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                            repository_def=defs.get_repository_def())
        return defs.resolve_schedule_def(schedule.name).evaluate_tick(context)


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
    for name in ("AIRCALL_SCHEDULE_CRON", "AIRCALL_SCHEDULE_DEFAULT_STATUS", "AIRCALL_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRCALL_API_ID", API_ID)
    monkeypatch.setenv("AIRCALL_API_TOKEN", SECRET_TOKEN)
    return monkeypatch


def test_tick_targets_the_previous_completed_day_with_the_account_tag(env):
    schedule = build_evidence_schedule(PARIS)
    assert schedule.name == SINGLE_ACCOUNT.schedule
    assert schedule.job_name == SINGLE_ACCOUNT.daily_job
    assert schedule.cron_schedule == "15 2 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    data = _tick(schedule, datetime(2026, 3, 10, 2, 15, tzinfo=ZoneInfo("Europe/Paris")))
    [request] = data.run_requests
    assert request.partition_key == "2026-03-09"
    assert request.run_key == "2026-03-09"  # a retried tick never starts the same day twice
    assert request.tags["dagster/partition"] == "2026-03-09"
    assert request.tags["aircall/account"] == f"api.aircall.io/{API_ID}"
    assert SECRET_TOKEN not in str(request.tags)


def test_the_day_is_the_partitions_timezone_day_not_utc(env):
    # 00:30 in Paris on 10 March is still 9 March in UTC; the completed Paris day is 9 March.
    schedule = build_evidence_schedule(PARIS)
    data = _tick(schedule, datetime(2026, 3, 10, 0, 30, tzinfo=ZoneInfo("Europe/Paris")))
    assert data.run_requests[0].partition_key == "2026-03-09"
    # Across the spring DST change (29 March 2026 in Paris) the previous day is still the previous day.
    data = _tick(schedule, datetime(2026, 3, 30, 2, 15, tzinfo=ZoneInfo("Europe/Paris")))
    assert data.run_requests[0].partition_key == "2026-03-29"


def test_before_the_first_partition_the_tick_skips(env):
    data = _tick(build_evidence_schedule(PARIS), datetime(2026, 1, 1, 2, 15, tzinfo=ZoneInfo("Europe/Paris")))
    assert data.run_requests == []
    assert "no completed partition" in data.skip_message


def test_settings_drive_cron_status_and_account(env):
    env.setenv("AIRCALL_SCHEDULE_CRON", "45 5 * * *")
    env.setenv("AIRCALL_SCHEDULE_DEFAULT_STATUS", "stopped")
    env.setenv("AIRCALL_API_URL", "http://127.0.0.1:8899")
    env.delenv("AIRCALL_API_ID")
    schedule = build_evidence_schedule(PARIS)
    assert schedule.cron_schedule == "45 5 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert Settings.from_env().account(None).label == "127.0.0.1:8899"


def test_previous_completed_partition_ignores_end_offset():
    ahead = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC", end_offset=1)
    assert previous_completed_partition(ahead, datetime(2026, 3, 10, 2, 15, tzinfo=UTC)) == "2026-03-09"


def _scheduler_tick(instance, at: datetime) -> None:
    """Run the real scheduler daemon's iteration (and its gRPC code server) at a frozen time."""
    target = ModuleTarget("aircall_pipeline_tests.operations.schedule_defs", "defs", str(REPO_ROOT), "ops_test")
    with create_test_daemon_workspace_context(target, instance) as workspace:
        times: dict = {}
        for now in (at.replace(minute=0), at):
            with freeze_time(now):
                list(launch_scheduled_runs(workspace, logging.getLogger("scheduler"), now, times))


@pytest.mark.slow
def test_real_scheduler_tick_creates_the_run_for_yesterday_with_tags(env):
    with dg.instance_for_test() as instance:
        _scheduler_tick(instance, datetime(2026, 3, 10, 2, 16, tzinfo=UTC))
        runs = instance.get_runs()
        assert len(runs) == 1
        # The adapter over Dagster's tick storage (operations/dagster_internals.py) reads it back.
        [tick] = schedule_ticks(instance, SINGLE_ACCOUNT.schedule)
        assert not tick.failed and tick.error is None
        assert schedule_ticks(instance, "another_schedule") == []
        assert runs[0].job_name == SINGLE_ACCOUNT.daily_job
        assert runs[0].tags["dagster/partition"] == "2026-03-09"
        assert runs[0].tags["aircall/account"] == f"api.aircall.io/{API_ID}"
        assert runs[0].tags["dagster/schedule_name"] == SINGLE_ACCOUNT.schedule


@pytest.mark.slow
def test_missing_credential_in_code_server_fails_the_tick_and_alerts_once(env, webhook):
    """No AIRCALL_API_TOKEN where the code server runs: the scheduler cannot even build the run, so
    no run (and no run-failure sensor) exists. The schedule-failure sensor reports it."""
    env.delenv("AIRCALL_API_TOKEN")
    with dg.instance_for_test() as instance:
        cursor = str(datetime(2026, 3, 10, 0, 0, tzinfo=UTC).timestamp())  # watching since midnight
        _scheduler_tick(instance, datetime(2026, 3, 10, 2, 16, tzinfo=UTC))
        assert instance.get_runs() == []
        [state] = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)]
        [tick] = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert tick.error is not None and tick.error.cls_name == "DagsterInvalidConfigError"
        # What the adapter relies on (operations/dagster_internals.py): the same tick, seen as failed,
        # with its error, and nothing after its own timestamp.
        [seen] = schedule_ticks(instance, SINGLE_ACCOUNT.schedule)
        assert seen.failed and seen.timestamp == tick.timestamp and seen.error.cls_name == "DagsterInvalidConfigError"
        assert schedule_ticks(instance, SINGLE_ACCOUNT.schedule, after=tick.timestamp) == []

        # A sensor that starts watching now does not replay old failures.
        assert evaluate_schedule_failures(instance, None)[0] is None

        sensor = build_schedule_failure_sensor()
        context = dg.build_sensor_context(instance=instance, cursor=cursor)
        sensor(context)
        sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))  # nothing new

    assert len(webhook.received) == 1
    alert = webhook.payloads[0]
    assert alert["kind"] == "config"
    assert "AIRCALL_API_TOKEN not set" in alert["title"]
    assert alert["details"]["missing_variables"] == ["AIRCALL_API_TOKEN"]
    assert "code server" in alert["text"]
