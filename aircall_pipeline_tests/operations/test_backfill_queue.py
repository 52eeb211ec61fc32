"""A call-history backfill never starves the daily run. The project's own definitions in a real code
server, the repository's dagster.yaml run limits, and Dagster's own daemons' logic: the backfill
daemon cuts the backfill into chunk runs, the scheduler creates the daily run, and the run queue
picks, among an account's queued runs, the one that starts when the running chunk ends."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._scheduler.scheduler import launch_scheduled_runs
from dagster._time import get_current_timestamp

from aircall_pipeline.names import ACCOUNT_TAG, PRIORITY_TAG, SINGLE_ACCOUNT
from aircall_pipeline.operations.jobs import BACKFILL_PRIORITY, DAILY_PRIORITY
from aircall_pipeline_tests.operations.jobs import API_ID, SECRET_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[2]
# A week of call history, three weeks back: inside the API's history horizon (AIRCALL_HISTORY_DAYS).
WEEK_START = datetime.now(UTC).date() - timedelta(days=21)
DAYS = [(WEEK_START + timedelta(days=d)).isoformat() for d in range(7)]
LOG = logging.getLogger("backfill_queue_test")


@pytest.fixture
def env(monkeypatch):
    for name in ("AIRCALL_ACCOUNTS_FILE", "AIRCALL_API_URL", "AIRCALL_SCHEDULE_DEFAULT_STATUS", "AIRCALL_TIMEZONE",
                 "AIRCALL_PARTITIONS_START"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRCALL_API_ID", API_ID)
    monkeypatch.setenv("AIRCALL_API_TOKEN", SECRET_TOKEN)
    monkeypatch.setenv("AIRCALL_BACKFILL_DAYS_PER_RUN", "3")


def queued_instance():
    """A test instance queueing runs under the repository's own dagster.yaml limits."""
    concurrency = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["concurrency"]
    return dg.instance_for_test(overrides={
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
        "concurrency": concurrency,
    })


def next_to_start(instance) -> list[str]:
    """The runs the queued-run daemon would launch now (Dagster's priority sort and tag limits)."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=5)
    return [run.run_id for run in daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)]


def set_status(instance, run, event_type: DagsterEventType) -> None:
    instance.handle_run_event(run.run_id, DagsterEvent(event_type_value=event_type.value, job_name=run.job_name))


def test_a_daily_run_starts_before_the_rest_of_a_queued_backfill(env):
    target = ModuleTarget("aircall_pipeline.definitions", "defs", str(REPO_ROOT), "aircall")
    with queued_instance() as instance, create_test_daemon_workspace_context(target, instance) as workspace:
        repo = workspace.create_request_context().get_code_location("aircall").get_repositories()
        [repo] = repo.values()
        [history] = [p for p in repo.get_partition_sets() if p.job_name == SINGLE_ACCOUNT.history_job]

        # What the UI's "Launch backfill" (or the GraphQL launchPartitionBackfill) records; the
        # backfill daemon turns it into runs.
        instance.add_backfill(PartitionBackfill(
            backfill_id="callhist", partition_set_origin=history.get_remote_origin(),
            status=BulkActionStatus.REQUESTED, partition_names=DAYS, from_failure=False,
            reexecution_steps=None, tags={}, backfill_timestamp=get_current_timestamp()))
        list(execute_backfill_iteration(workspace, LOG))
        chunks = sorted(instance.get_runs(), key=lambda r: r.tags[ASSET_PARTITION_RANGE_START_TAG])
        # Three days per run (AIRCALL_BACKFILL_DAYS_PER_RUN): three runs for seven days, not seven.
        assert [(r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG]) for r in chunks] == [
            (DAYS[0], DAYS[2]), (DAYS[3], DAYS[5]), (DAYS[6], DAYS[6])]
        for run in chunks:
            assert run.status == dg.DagsterRunStatus.QUEUED
            assert run.tags[PRIORITY_TAG] == str(BACKFILL_PRIORITY)
            assert run.tags[ACCOUNT_TAG] == f"api.aircall.io/{API_ID}"

        # One run per account at a time: the first chunk starts, the others wait.
        first = next_to_start(instance)
        assert len(first) == 1 and first[0] in {r.run_id for r in chunks}
        running = instance.get_run_by_id(first[0])
        set_status(instance, running, DagsterEventType.RUN_START)
        assert next_to_start(instance) == []

        # The schedule ticks while that chunk runs: its run queues behind it...
        tick, times = datetime.now(UTC).replace(hour=2, minute=16, second=0, microsecond=0), {}
        for now in (tick.replace(minute=0), tick):  # the scheduler's first pass only records its start
            with freeze_time(now):
                list(launch_scheduled_runs(workspace, LOG, now, times))
        [daily] = instance.get_runs(filters=dg.RunsFilter(job_name=SINGLE_ACCOUNT.daily_job))
        assert daily.status == dg.DagsterRunStatus.QUEUED
        assert daily.tags[PRIORITY_TAG] == str(DAILY_PRIORITY) and DAILY_PRIORITY > BACKFILL_PRIORITY
        assert daily.tags[ACCOUNT_TAG] == running.tags[ACCOUNT_TAG]
        assert next_to_start(instance) == []

        # ...and starts as soon as the chunk ends, ahead of the two chunks queued before it.
        set_status(instance, running, DagsterEventType.RUN_SUCCESS)
        assert next_to_start(instance) == [daily.run_id]
