"""`aircall-pipeline run` explains a failed run the way the run-failure alert does (failures.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE
from aircall_pipeline.commands.run import failure_report
from aircall_pipeline.operations.alerts import scrub
from aircall_pipeline.operations.run_alerts import alert_for_failed_run
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.operations import jobs
from aircall_pipeline_tests.operations.jobs import BASIC, PARTITION, SECRET_TOKEN

TOKEN = "tok-9b1d-RIGHT-c0ffee"  # the key the sandbox accepts
WRONG_TOKEN = "tok-4e2a-WRONG-deadbeef"  # what the operator exported; neither may ever be printed
API_ID = "id-4242"
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.fixture
def cli_env(make_sandbox, tmp_path) -> dict[str, str]:
    """A shell pointed at a sandbox that accepts TOKEN only, with a local evidence folder."""
    account = SandboxAccount(seed=11, calls=60, days=3)
    # The real budget's shape, time-compressed (600 per 6 s) on both sides, as in test_daily_job.py.
    server = make_sandbox(account=account, api_id=API_ID, api_token=TOKEN, rate_limit=600, window_seconds=6)
    return {**os.environ, **deployment_env(server, account, tmp_path, api_id=API_ID, api_token=TOKEN)}


def _cli_run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aircall_pipeline.cli", "run", "--date", YESTERDAY],
                          env=env, capture_output=True, text=True, timeout=300)


def test_cli_run_with_a_wrong_key_prints_the_auth_advice_and_exits_1(cli_env, tmp_path):
    proc = _cli_run({**cli_env, "AIRCALL_API_TOKEN": WRONG_TOKEN})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert f"Aircall evidence run failed for {YESTERDAY}: the Aircall API key was rejected (401/403)" in proc.stdout
    assert NEW_KEY_ADVICE in proc.stdout
    assert "AircallAuthError" in proc.stdout  # the root cause follows the advice
    advice = proc.stdout.index(NEW_KEY_ADVICE)
    assert proc.stdout.index("AircallAuthError", advice) > advice
    assert WRONG_TOKEN not in output and TOKEN not in output
    assert "Evidence written" not in proc.stdout
    assert not list((tmp_path / "evidence").rglob("manifest*.json"))


def test_cli_run_into_a_missing_bucket_prints_the_s3_advice(cli_env, s3_env):
    env = {**cli_env, **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
           "EVIDENCE_URI": "s3://no-such-evidence-bucket/prod"}
    proc = _cli_run(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Aircall evidence run failed for {YESTERDAY}: the evidence store (S3) failed" in proc.stdout
    assert "Check EVIDENCE_URI (does the bucket exist?)" in proc.stdout
    assert "does not exist" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr


def test_the_cli_report_says_what_the_alert_says(alert_env):
    """Same run, two readers: the in-process result (the CLI) and the instance's event log (the sensor)."""
    with dg.instance_for_test() as instance:
        result = dg.materialize([jobs.revoked_key_users], instance=instance, partition_key=PARTITION,
                                raise_on_error=False)
        assert not result.success
        alert = alert_for_failed_run(instance, instance.get_run_by_id(result.run_id))
    lines = failure_report(result)
    assert alert.kind == "auth"
    assert lines[0] == scrub(alert.title)
    expected = [f"  {line}" for line in scrub(alert.text).splitlines()]
    assert lines[1:1 + len(expected)] == expected
    assert lines[-1] == f"  Failed steps: {', '.join(alert.details['failed_steps'])}"
    report = "\n".join(lines)
    assert SECRET_TOKEN not in report and BASIC not in report and "[redacted]" in report
