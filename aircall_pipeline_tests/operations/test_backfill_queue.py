"""A call-history backfill never starves the daily run, and never holds back another account. The
project's own definitions in a real code server, the repository's dagster.yaml run limits, and
Dagster's own daemons' logic: the backfill daemon cuts the backfill into chunk runs, the sensor
daemon runs the one scheduler (`aircall_daily_scheduler`) that creates every account's daily run,
and the run queue picks the runs that start: one per account at a time, the highest priority first."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.backfill import PartitionBackfill
from dagster._core.storage.defs_state.base import set_defs_state_storage
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._time import get_current_timestamp

from aircall_pipeline.config.settings import Settings
from aircall_pipeline.ingest.partitions import (
    ACCOUNT_DIM,
    account_of_key,
    day_of,
    partition_key,
    register_accounts,
)
from aircall_pipeline.names import (
    ACCOUNT_TAG,
    DAILY_JOB,
    HISTORY_TABLES,
    PRIORITY_TAG,
    SCHEDULER_SENSOR,
    keys,
)
from aircall_pipeline.operations.jobs import BACKFILL_PRIORITY, DAILY_PRIORITY, run_tags

REPO_ROOT = Path(__file__).resolve().parents[2]
# A week of call history, three weeks back: inside the API's history horizon (AIRCALL_HISTORY_DAYS).
WEEK_START = datetime.now(UTC).date() - timedelta(days=21)
DAYS = [(WEEK_START + timedelta(days=d)).isoformat() for d in range(7)]
ACCOUNTS = ("acme", "globex")
PARTITION_ACCOUNT_TAG = f"dagster/partition/{ACCOUNT_DIM}"
LOG = logging.getLogger("backfill_queue_test")


def noon_timezone(now: datetime) -> str:
    """A fixed-offset timezone where it is about noon at `now`: the scheduler, which runs on the code
    server's real clock, then finds every account's previous day due (cron time passed, day settled)."""
    offset = 12 - now.hour  # -11 .. 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # POSIX signs: Etc/GMT-5 is UTC+5


@pytest.fixture(autouse=True)
def _no_leaked_defs_state_storage():
    """The daemon workspace helpers leave Dagster's "current" definitions-state storage pointing at a
    disposed instance (see test_schedules.py); each test runs inside its own setting of it."""
    with set_defs_state_storage(None):
        yield


@pytest.fixture
def env(monkeypatch, tmp_path) -> str:
    """Two accounts in the accounts file, both scheduled at local midnight in a timezone where it is
    now about noon. Returns the timezone."""
    for name in ("AIRCALL_API_URL", "AIRCALL_SCHEDULE_DEFAULT_STATUS", "AIRCALL_TIMEZONE", "AIRCALL_SCHEDULE_CRON",
                 "AIRCALL_PARTITIONS_START", "AIRCALL_HISTORY_DAYS"):
        monkeypatch.delenv(name, raising=False)
    timezone = noon_timezone(datetime.now(UTC))
    entries = []
    for name in ACCOUNTS:
        entries.append({"name": name, "api_id_env": f"AIRCALL_{name.upper()}_API_ID",
                        "api_token_env": f"AIRCALL_{name.upper()}_API_TOKEN", "evidence_uri": str(tmp_path / name),
                        "timezone": timezone, "schedule_cron": "0 0 * * *"})
        monkeypatch.setenv(f"AIRCALL_{name.upper()}_API_ID", f"id-{name}")
        monkeypatch.setenv(f"AIRCALL_{name.upper()}_API_TOKEN", f"tok-{name}-SECRET")
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": entries}))
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(path))
    monkeypatch.setenv("AIRCALL_BACKFILL_DAYS_PER_RUN", "3")
    return timezone


def queued_instance():
    """A test instance queueing runs under the repository's own dagster.yaml limits."""
    concurrency = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["concurrency"]
    return dg.instance_for_test(overrides={
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
        "concurrency": concurrency,
    })


def next_to_start(instance, at: float) -> list[str]:
    """The runs the queued-run daemon would launch at `at` (Dagster's priority sort, tag limits and
    pool accounting)."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=5)
    with freeze_time(at):
        return [run.run_id for run in daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)]


def set_status(instance, run, event_type: DagsterEventType, at: float) -> None:
    instance.handle_run_event(run.run_id, DagsterEvent(event_type_value=event_type.value, job_name=run.job_name),
                              datetime.fromtimestamp(at, UTC))


def scheduler_tick(workspace, repo, instance) -> None:
    """One pass of Dagster's sensor daemon over the scheduler alone (every other sensor stopped)."""
    for sensor in repo.get_sensors():
        if sensor.name != SCHEDULER_SENSOR:
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
    list(execute_sensor_iteration(workspace, LOG, threadpool_executor=None, submit_threadpool_executor=None))
    [tick] = instance.get_ticks(repo.get_sensor(SCHEDULER_SENSOR).get_remote_origin_id(),
                                repo.get_sensor(SCHEDULER_SENSOR).selector_id)
    assert tick.status.value == "SUCCESS", tick.error or tick.skip_reason


def test_a_daily_run_starts_before_the_rest_of_a_queued_backfill_and_other_accounts_do_not_wait(env):
    target = ModuleTarget("aircall_pipeline.definitions", "defs", str(REPO_ROOT), "aircall")
    with queued_instance() as instance, create_test_daemon_workspace_context(target, instance) as workspace:
        assert register_accounts(instance, Settings.from_env().accounts) == list(ACCOUNTS)  # the registry sensor's job
        [repo] = workspace.create_request_context().get_code_location("aircall").get_repositories().values()
        # What `aircall-pipeline backfill --account acme` asks the webserver for: an asset backfill of
        # the call-history assets over the account's date range, with the account's run tags.
        account = next(a for a in Settings.from_env().accounts if a.key == "acme")
        instance.add_backfill(PartitionBackfill.from_asset_partitions(
            backfill_id="callhist", asset_graph=workspace.create_request_context().asset_graph,
            partition_names=[partition_key("acme", d) for d in DAYS], asset_selection=keys(HISTORY_TABLES),
            backfill_timestamp=get_current_timestamp(), tags=run_tags(account, priority=BACKFILL_PRIORITY),
            dynamic_partitions_store=instance, all_partitions=False, title=None, description=None,
            run_config=None))
        list(execute_backfill_iteration(workspace, LOG))
        chunks = sorted(instance.get_runs(), key=lambda r: r.tags[ASSET_PARTITION_RANGE_START_TAG])
        # Three days per run (AIRCALL_BACKFILL_DAYS_PER_RUN): three runs for seven days, not seven.
        assert [(day_of(r.tags[ASSET_PARTITION_RANGE_START_TAG]), day_of(r.tags[ASSET_PARTITION_RANGE_END_TAG]))
                for r in chunks] == [(DAYS[0], DAYS[2]), (DAYS[3], DAYS[5]), (DAYS[6], DAYS[6])]
        for run in chunks:
            assert run.status == dg.DagsterRunStatus.QUEUED
            assert run.tags[PRIORITY_TAG] == str(BACKFILL_PRIORITY)
            assert account_of_key(run.tags[ASSET_PARTITION_RANGE_START_TAG]) == "acme"
            assert run.tags[ACCOUNT_TAG] == "acme"  # the key of the one-run-per-account limit
            # No dimension tag on a chunk: Dagster would read `dagster/partition/date` before the range,
            # and the chunk would collect its first day only.
            assert not [t for t in run.tags if t.startswith("dagster/partition/")], run.tags

        # The queue's clock, set by hand from here on (an hour ahead, so after every run's creation):
        # Dagster counts a run that started less than 5 s ago as holding a pool slot for each of its
        # root API steps; the runs here start minutes apart, as a chunk and a day take minutes.
        clock = get_current_timestamp() + 3600

        # One run per account at a time: the first chunk starts, the others wait.
        first = next_to_start(instance, clock)
        assert len(first) == 1 and first[0] in {r.run_id for r in chunks}
        running = instance.get_run_by_id(first[0])
        set_status(instance, running, DagsterEventType.RUN_START, clock)
        assert next_to_start(instance, clock) == []

        # The scheduler ticks while that chunk runs: one daily run per account, queued.
        scheduler_tick(workspace, repo, instance)
        dailies = {r.tags[ACCOUNT_TAG]: r for r in instance.get_runs(filters=dg.RunsFilter(job_name=DAILY_JOB))}
        assert set(dailies) == set(ACCOUNTS)
        yesterday = (datetime.now(ZoneInfo(env)).date() - timedelta(days=1)).isoformat()
        for name, daily in dailies.items():
            assert daily.status == dg.DagsterRunStatus.QUEUED
            assert daily.tags["dagster/partition"] == partition_key(name, yesterday)
            assert daily.tags[PARTITION_ACCOUNT_TAG] == name
            assert daily.tags[PRIORITY_TAG] == str(DAILY_PRIORITY) and DAILY_PRIORITY > BACKFILL_PRIORITY
        # globex's day starts alongside acme's chunk; acme's day waits behind its own account's chunk.
        clock += 60
        assert next_to_start(instance, clock) == [dailies["globex"].run_id]
        set_status(instance, dailies["globex"], DagsterEventType.RUN_START, clock)
        assert next_to_start(instance, clock) == []

        # ...and starts as soon as the chunk ends, ahead of the two chunks queued before it, while
        # globex's day still runs.
        clock += 120
        set_status(instance, running, DagsterEventType.RUN_SUCCESS, clock)
        assert next_to_start(instance, clock) == [dailies["acme"].run_id]
        set_status(instance, dailies["acme"], DagsterEventType.RUN_START, clock)
        assert next_to_start(instance, clock) == []
        # The backfill resumes once acme's day is done, one chunk at a time.
        clock += 300
        set_status(instance, dailies["acme"], DagsterEventType.RUN_SUCCESS, clock)
        resumed = next_to_start(instance, clock)
        assert len(resumed) == 1 and resumed[0] in {r.run_id for r in chunks} - {running.run_id}
        assert instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])) == 2
