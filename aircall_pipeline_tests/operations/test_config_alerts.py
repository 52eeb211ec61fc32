"""One unusable setting never silences the alerts: the code location still loads, and a launched run
fails at once with a single `config` alert that names the problem and holds no secret.

The run goes through the real run worker (`dagster api execute_run`, what the run launcher starts)
on the project's real definitions module, in an environment holding the bad value.
"""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterEventType
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

from aircall_pipeline.definitions import load_defs
from aircall_pipeline.names import ACCOUNT_TAG, SINGLE_ACCOUNT
from aircall_pipeline.settings import DEFAULT_API_URL, SettingsError
from aircall_pipeline_tests.operations.failure_ticks import tick_failure_sensor

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
DAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


def _bad_env(name, webhook, monkeypatch, tmp_path):
    variable, value = BAD_SETTINGS[name]
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("EVIDENCE_URI", str(tmp_path / "evidence"))
    monkeypatch.setenv("AIRCALL_LIMITER_URL", f"sqlite:///{tmp_path / 'limiter.sqlite'}")
    return webhook


@pytest.fixture(params=sorted(BAD_SETTINGS))
def bad_env(request, webhook, monkeypatch, tmp_path):
    return _bad_env(request.param, webhook, monkeypatch, tmp_path)


@pytest.fixture(params=["credentials_in_url", "plain_http"])
def bad_url_env(request, webhook, monkeypatch, tmp_path):
    return _bad_env(request.param, webhook, monkeypatch, tmp_path)


def test_definitions_load_whatever_the_environment_says(bad_env):
    defs = load_defs()
    dg.Definitions.validate_loadable(defs)
    assert len(defs.sensors) == 5  # the alert sensors are there to report the problem
    job = defs.resolve_job_def(SINGLE_ACCOUNT.daily_job)
    assert job.tags[ACCOUNT_TAG].startswith(DEFAULT_API_URL.split("://")[1])
    assert URL_TOKEN not in str(job.tags)
    assert defs.resolve_schedule_def(SINGLE_ACCOUNT.schedule)


def test_a_launched_run_fails_at_once_with_one_config_alert(bad_url_env):
    webhook = bad_url_env
    repo = ReconstructableRepository.for_module("aircall_pipeline.definitions", "defs", str(REPO_ROOT))
    recon_job = repo.get_reconstructable_job(SINGLE_ACCOUNT.daily_job)
    job_def = recon_job.get_definition()
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(
            job_def=job_def, job_code_origin=recon_job.get_python_origin(),
            tags={**job_def.tags, "dagster/partition": DAY},
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


def test_a_schedule_tick_fails_with_the_settings_error(bad_url_env):
    """The tick reads the settings when it runs: it fails with the SettingsError, which the
    schedule-failure alert classifies as `config`, instead of starting a doomed run."""
    defs = load_defs()
    schedule = defs.resolve_schedule_def(SINGLE_ACCOUNT.schedule)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                            scheduled_execution_time=datetime.now(UTC).replace(hour=2, minute=15))
        with pytest.raises(Exception) as raised:  # noqa: B017 - Dagster wraps it; the cause is checked
            schedule.evaluate_tick(context)
    chain, error = [], raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, SettingsError) for e in chain)
    assert all(URL_TOKEN not in str(e) for e in chain)
