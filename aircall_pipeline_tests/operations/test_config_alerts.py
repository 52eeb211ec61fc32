"""One unusable setting never silences the alerts: the code location still loads, and what the setting
breaks fails at once with a single `config` alert that names the variable and holds no secret.

- A setting the definitions read (API URL, timezone, partitions start, rate limit): a launched run
  fails at its first step with the SettingsError. The run goes through the real run worker
  (`dagster api execute_run`, what the run launcher starts) on the project's real definitions
  module, in an environment holding the bad value.
- A setting the scheduler reads when it ticks (those, and the cron): the tick of the real sensor
  daemon over the real definitions fails before any run exists; the scheduler-failure alert says so.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterEventType
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.storage.defs_state.base import set_defs_state_storage
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

from aircall_pipeline.config.settings import SettingsError
from aircall_pipeline.definitions import UnusableSettings, load_defs
from aircall_pipeline.names import (
    DAILY_JOB,
    FAILED_CHECK_SENSOR,
    FRESHNESS_SENSOR,
    IO_MANAGER,
    REGISTRY_SENSOR,
    RUN_FAILURE_SENSOR,
    SCHEDULE_FAILURE_SENSOR,
    SCHEDULER_SENSOR,
    TAMPER_SENSOR,
)
from aircall_pipeline.operations.dagster_internals import sensor_ticks
from aircall_pipeline.operations.schedule_failure_sensor import build_schedule_failure_sensor
from aircall_pipeline_tests.operations.failure_ticks import tick_failure_sensor
from aircall_pipeline_tests.partitions import pk, registered

REPO_ROOT = Path(__file__).resolve().parents[2]
URL_TOKEN = "tok-IN-THE-URL-5c1d"  # noqa: S105 - a test credential
BAD_SETTINGS = {
    "plain_http": ("AIRCALL_API_URL", "http://api.aircall.io"),
    "credentials_in_url": ("AIRCALL_API_URL", f"https://id-77:{URL_TOKEN}@api.aircall.io"),
    "timezone": ("AIRCALL_TIMEZONE", "Mars/Olympus_Mons"),
    "partitions_start": ("AIRCALL_PARTITIONS_START", "01/03/2026"),
    "cron": ("AIRCALL_SCHEDULE_CRON", "every day at two"),
    "rate_limit": ("AIRCALL_RATE_LIMIT_PER_MINUTE", "sixty"),
}
# The cron only matters to the scheduler: the definitions do not read it.
READ_WHEN_LOADING = sorted(set(BAD_SETTINGS) - {"cron"})
ALERT_SENSORS = {RUN_FAILURE_SENSOR, FAILED_CHECK_SENSOR, FRESHNESS_SENSOR, SCHEDULE_FAILURE_SENSOR, TAMPER_SENSOR}
DAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.fixture(autouse=True)
def _no_leaked_defs_state_storage():
    """The daemon workspace helpers leave Dagster's "current" definitions-state storage pointing at a
    disposed instance (see test_schedules.py): each test runs inside its own setting of it."""
    with set_defs_state_storage(None):
        yield


@dataclass(frozen=True)
class BadEnv:
    variable: str  # the variable holding the bad value
    webhook: object  # the receiver (conftest.Receiver) the alerts go to


def _bad_env(name, webhook, monkeypatch, tmp_path) -> BadEnv:
    variable, value = BAD_SETTINGS[name]
    for other in {v for v, _ in BAD_SETTINGS.values()} | {"AIRCALL_ACCOUNTS_FILE"}:
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("EVIDENCE_URI", str(tmp_path / "evidence"))
    monkeypatch.setenv("AIRCALL_LIMITER_URL", f"sqlite:///{tmp_path / 'limiter.sqlite'}")
    return BadEnv(variable, webhook)


@pytest.fixture(params=sorted(BAD_SETTINGS))
def bad_env(request, webhook, monkeypatch, tmp_path):
    return _bad_env(request.param, webhook, monkeypatch, tmp_path)


@pytest.fixture(params=READ_WHEN_LOADING)
def load_env(request, webhook, monkeypatch, tmp_path):
    return _bad_env(request.param, webhook, monkeypatch, tmp_path)


@pytest.fixture(params=["credentials_in_url", "plain_http"])
def bad_url_env(request, webhook, monkeypatch, tmp_path):
    return _bad_env(request.param, webhook, monkeypatch, tmp_path)


@pytest.fixture(params=["credentials_in_url", "cron"])
def bad_tick_env(request, webhook, monkeypatch, tmp_path):
    return _bad_env(request.param, webhook, monkeypatch, tmp_path)


def test_definitions_load_whatever_the_environment_says(bad_env):
    defs = load_defs()
    dg.Definitions.validate_loadable(defs)
    names = {s.name for s in defs.sensors}
    assert ALERT_SENSORS <= names  # the alert sensors are there to report the problem
    assert {REGISTRY_SENSOR, SCHEDULER_SENSOR} <= names
    job = defs.resolve_job_def(DAILY_JOB)
    assert URL_TOKEN not in str(job.tags)


def test_a_setting_the_definitions_read_is_the_error_of_every_run(load_env):
    """Unusable at load: the definitions are built from the defaults, and every run's IO manager
    fails with the setting's error, which names the variable and never repeats a secret."""
    io_manager = load_defs().resources[IO_MANAGER]
    assert isinstance(io_manager, UnusableSettings)
    assert load_env.variable in io_manager.problem
    assert URL_TOKEN not in io_manager.problem


def test_a_launched_run_fails_at_once_with_one_config_alert(bad_url_env):
    webhook = bad_url_env.webhook
    repo = ReconstructableRepository.for_module("aircall_pipeline.definitions", "defs", str(REPO_ROOT))
    recon_job = repo.get_reconstructable_job(DAILY_JOB)
    job_def = recon_job.get_definition()
    with dg.instance_for_test() as instance:
        registered(instance)
        run = instance.create_run_for_job(
            job_def=job_def, job_code_origin=recon_job.get_python_origin(),
            tags={**job_def.tags, **job_def.partitions_def.get_tags_for_partition_key(pk(DAY))},
        )
        args = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id, instance_ref=instance.get_ref())
        command = [sys.executable, "-m", "dagster", "api", "execute_run", serialize_value(args)]
        subprocess.run(command, env=dict(os.environ), cwd=REPO_ROOT, capture_output=True, timeout=300, check=False)

        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        materialized = instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        assert materialized == []
        assert len(instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)) == 1
        tick_failure_sensor(instance, run.run_id)
        assert URL_TOKEN not in str(instance.get_run_by_id(run.run_id).tags)

    assert len(webhook.received) == 1, [p["title"] for p in webhook.payloads]
    alert = webhook.payloads[0]
    assert alert["kind"] == "config"
    assert "SettingsError" in alert["details"]["error_classes"]
    assert "AIRCALL_API_URL" in alert["text"]
    assert URL_TOKEN not in webhook.raw


def _error_chain(error) -> list:
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    return chain


def test_a_scheduler_tick_fails_with_the_settings_error(bad_tick_env):
    """The scheduler reads the settings when it ticks: it fails with the SettingsError, naming the
    variable, instead of starting a doomed run."""
    defs = load_defs()
    scheduler = defs.resolve_sensor_def(SCHEDULER_SENSOR)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=registered(instance), definitions=defs)
        with pytest.raises(Exception) as raised:  # noqa: B017 - Dagster may wrap it; the cause is checked
            scheduler.evaluate_tick(context)
    chain, error = [], raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    [settings_error] = [e for e in chain if isinstance(e, SettingsError)]
    assert bad_tick_env.variable in str(settings_error)
    assert all(URL_TOKEN not in str(e) for e in chain)


@pytest.mark.slow
def test_a_failed_scheduler_tick_gives_one_config_alert_naming_the_variable(bad_tick_env):
    """The real sensor daemon ticks the project's real definitions (in their own code server): the
    scheduler's tick fails, no run exists, and the scheduler-failure sensor sends one `config`
    alert naming the variable."""
    webhook = bad_tick_env.webhook
    target = ModuleTarget("aircall_pipeline.definitions", "defs", str(REPO_ROOT), "config_test")
    with dg.instance_for_test() as instance:
        registered(instance)
        cursor = str(time.time() - 1)  # the scheduler-failure sensor was watching before the tick
        with create_test_daemon_workspace_context(target, instance) as workspace:
            list(execute_sensor_iteration(workspace, dg.get_dagster_logger(), None, None))
        assert instance.get_runs() == []
        [failed] = sensor_ticks(instance, SCHEDULER_SENSOR)
        assert failed.failed
        assert "SettingsError" in {e.cls_name for e in _error_chain(failed.error)}

        sensor = build_schedule_failure_sensor()
        context = dg.build_sensor_context(instance=instance, cursor=cursor)
        sensor(context)
        sensor(dg.build_sensor_context(instance=instance, cursor=context.cursor))  # nothing new

    assert len(webhook.received) == 1, [p["title"] for p in webhook.payloads]
    alert = webhook.payloads[0]
    assert alert["kind"] == "config"
    assert SCHEDULER_SENSOR in alert["title"]
    assert bad_tick_env.variable in alert["text"]
    assert URL_TOKEN not in webhook.raw
