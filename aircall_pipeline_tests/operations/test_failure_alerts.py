"""The run-failure sensor, invoked on real runs in a real (temporary) instance.

Each scenario fails a run the way production fails it, hands the run's failure event to the sensor
exactly as the daemon would, and checks what reached a live webhook receiver on loopback: one
alert, the right kind and words, a link to the run, and no secret.
"""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster import DagsterEventType
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE, RATE_LIMIT_ADVICE
from aircall_pipeline.operations.alerts import mrkdwn_escape
from aircall_pipeline.timestamps import iso_utc
from aircall_pipeline_tests.operations import jobs
from aircall_pipeline_tests.operations.failure_ticks import tick_failure_sensor
from aircall_pipeline_tests.operations.jobs import BASIC, PARTITION, RESET_AT, SECRET_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "api.aircall.io/ac-id-4242"


def _materialize(instance, assets, resources=None, tags=None):
    return dg.materialize(
        assets, instance=instance, partition_key=PARTITION, raise_on_error=False, resources=resources,
        tags={"aircall/account": ACCOUNT, **(tags or {})},
    )


def _run_failure_event(instance, run_id):
    records = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    assert len(records) == 1, "the run should have failed exactly once"
    return records[0].dagster_event


def _invoke_failure_sensor(instance, run_id):
    tick_failure_sensor(instance, run_id)


def _one_alert(webhook) -> dict:
    assert len(webhook.received) == 1, [p["title"] for p in webhook.payloads]
    assert SECRET_TOKEN not in webhook.raw
    assert BASIC not in webhook.raw
    return webhook.payloads[0]


def test_revoked_key_alerts_auth_once_with_the_fix_and_no_secret(instance, webhook):
    result = _materialize(instance, [jobs.revoked_key_users])
    assert not result.success
    _invoke_failure_sensor(instance, result.run_id)

    alert = _one_alert(webhook)
    assert alert["kind"] == "auth"
    assert alert["severity"] == "critical"
    assert "the Aircall API key was rejected (401/403)" in alert["text"]
    assert mrkdwn_escape(NEW_KEY_ADVICE) in alert["text"]
    assert PARTITION in alert["title"]
    assert alert["run_id"] == result.run_id
    assert alert["run_url"] == f"http://127.0.0.1:3999/runs/{result.run_id}"
    assert alert["details"]["account"] == ACCOUNT
    assert "[redacted]" in alert["text"]  # the leaked header and token were scrubbed, not dropped silently


def test_exhausted_rate_limit_alerts_with_reset_time_and_advice(instance, webhook):
    result = _materialize(instance, [jobs.exhausted_calls])
    assert not result.success
    _invoke_failure_sensor(instance, result.run_id)

    alert = _one_alert(webhook)
    reset = iso_utc(RESET_AT)
    assert alert["kind"] == "rate_limit"
    assert reset in alert["text"]
    assert alert["details"]["reset_at"] == reset
    assert RATE_LIMIT_ADVICE in alert["text"]


def test_s3_failure_alerts_s3_with_the_store_message(instance, webhook, s3_env, s3_client):
    missing = "evidence-bucket-that-does-not-exist"
    result = _materialize(instance, [jobs.company_into_missing_bucket],
                          resources={"evidence": jobs.EvidenceUri(uri=f"s3://{missing}/aircall")})
    assert not result.success
    _invoke_failure_sensor(instance, result.run_id)

    alert = _one_alert(webhook)
    assert alert["kind"] == "s3"
    assert "EvidenceStoreError" in alert["details"]["error_classes"]
    assert f"bucket {missing} does not exist" in alert["text"]
    assert "EVIDENCE_URI" in alert["text"]


def test_blocking_check_failure_names_the_check(instance, webhook):
    result = _materialize(instance, [jobs.ac01_user_inventory, jobs.evidence_report_after_ac01])
    assert not result.success
    _invoke_failure_sensor(instance, result.run_id)

    alert = _one_alert(webhook)
    assert alert["kind"] == "check_failed"
    assert "ac01_user_inventory" in alert["title"]
    assert "blocking compliance check failed" in alert["title"]
    assert alert["details"]["failed_check_ids"] == ["AC-01"]
    assert alert["details"]["failed_checks"] == ["ac01_user_inventory on aircall/ac01_user_inventory"]
    assert "23 users fetched but the company reports 25" in alert["text"]
    assert "u-901" in alert["text"]


def test_missing_credentials_fail_at_launch_and_alert_config(instance, webhook, tmp_path):
    """The real run worker (`dagster api execute_run`, what the run launcher starts) without
    AIRCALL_API_TOKEN: the run fails before any step, with DagsterInvalidConfigError on an engine
    event and nothing on the run-failure event itself."""
    recon = dg.reconstructable(jobs.get_config_job)
    run = instance.create_run_for_job(
        job_def=jobs.get_config_job(), job_code_origin=recon.get_python_origin(),
        tags={"aircall/account": ACCOUNT, "dagster/partition": PARTITION},
    )
    env = {k: v for k, v in os.environ.items() if k != "AIRCALL_API_TOKEN"}
    args = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id, instance_ref=instance.get_ref())
    # The same command line DefaultRunLauncher starts (`<python> -m dagster api execute_run ...`).
    command = [sys.executable, "-m", "dagster", "api", "execute_run", serialize_value(args)]
    subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, timeout=120, check=False)

    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    steps = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_START)
    assert steps == [], "the run must fail at launch, before any step"
    failure = _run_failure_event(instance, run.run_id)
    assert getattr(failure.event_specific_data, "error", None) is None  # why engine events are read too

    _invoke_failure_sensor(instance, run.run_id)
    alert = _one_alert(webhook)
    assert alert["kind"] == "config"
    assert "AIRCALL_API_TOKEN" in alert["title"]
    assert alert["details"]["missing_variables"] == ["AIRCALL_API_TOKEN"]
    assert "before any step ran" in alert["text"]
    assert mrkdwn_escape(NEW_KEY_ADVICE) in alert["text"]


def test_will_retry_runs_are_ignored(instance, webhook):
    result = _materialize(instance, [jobs.revoked_key_users], tags={"dagster/will_retry": "true"})
    assert not result.success
    _invoke_failure_sensor(instance, result.run_id)
    assert webhook.received == []


def test_a_failing_sink_does_not_break_the_sensor(instance, webhook, monkeypatch):
    monkeypatch.setenv("ALERT_SLACK_TOKEN", "xoxb-not-a-real-token-123456")
    monkeypatch.setenv("ALERT_SLACK_CHANNEL", "#grc-alerts")
    # slack.com is unreachable from here (no network): the Slack sink fails, the webhook still gets it.
    monkeypatch.setattr("aircall_pipeline.operations.alerts.SlackSink.send",
                        lambda self, alert: (_ for _ in ()).throw(ConnectionError("no route to slack.com")))
    result = _materialize(instance, [jobs.revoked_key_users])
    _invoke_failure_sensor(instance, result.run_id)
    assert _one_alert(webhook)["kind"] == "auth"


def test_a_refused_collection_date_is_explained(instance, webhook):
    """The real snapshot guard (ingest/timing.py) refusing an old date, through raise_without_retry."""
    from aircall_pipeline.ingest.retry import raise_without_retry
    from aircall_pipeline.ingest.timing import CollectionTimingError

    @dg.asset(key=["aircall", "users"], partitions_def=jobs.PARTITIONS, retry_policy=jobs.FAST_RETRY)
    def old_users(context: dg.AssetExecutionContext) -> int:
        try:
            raise CollectionTimingError("The users snapshot for 2026-03-09 can no longer be taken.")
        except CollectionTimingError as exc:
            raise_without_retry(exc)

    result = _materialize(instance, [old_users])
    _invoke_failure_sensor(instance, result.run_id)
    alert = _one_alert(webhook)
    assert alert["kind"] == "other"
    assert "cannot be collected" in alert["title"]
    assert "can no longer be taken" in alert["text"]


def test_text_from_the_api_in_a_failure_alert_is_escaped(instance, webhook):
    """The API's own error text reaches the alert (AircallRequestError carries it): it must not ping."""
    from aircall_pipeline.aircall.errors import AircallRequestError

    @dg.asset(key=["aircall", "teams"], partitions_def=jobs.PARTITIONS)
    def teams_refused(context: dg.AssetExecutionContext) -> int:
        raise AircallRequestError("400 from GET /v1/teams: <!channel> key expired, sign in again at "
                                  "<https://evil.invalid/login|app.aircall.io>", status=400, endpoint="/v1/teams")

    result = _materialize(instance, [teams_refused])
    _invoke_failure_sensor(instance, result.run_id)
    alert = _one_alert(webhook)
    assert "&lt;!channel&gt; key expired" in alert["text"]
    assert "<!channel>" not in webhook.raw and "<https://" not in webhook.raw
