"""The alert path with the project's real asset, resources and client against the sandbox: a key the
API rejects becomes one `auth` alert, raised once (never retried), with no secret in it."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE
from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_resources
from aircall_pipeline.ingest.assets import build_raw_assets
from aircall_pipeline.ingest.partitions import partitions_for
from aircall_pipeline.names import ACCOUNTS_RESOURCE, AIRCALL_RESOURCE, key
from aircall_pipeline.operations.alerts import mrkdwn_escape
from aircall_pipeline.sandbox.server import SANDBOX_API_ID
from aircall_pipeline_tests.operations.failure_ticks import tick_failure_sensor
from aircall_pipeline_tests.operations.jobs import SECRET_TOKEN
from aircall_pipeline_tests.partitions import pk, registered


def test_rejected_key_through_the_real_client_alerts_auth_once(sandbox, webhook, tmp_path, monkeypatch):
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()  # a snapshot date still collectable
    # The single account of the variables, pointed at the sandbox with a token it rejects.
    for name, value in {"AIRCALL_API_URL": sandbox.url, "AIRCALL_API_ID": SANDBOX_API_ID,
                        "AIRCALL_API_TOKEN": SECRET_TOKEN, "EVIDENCE_URI": str(tmp_path / "evidence"),
                        "AIRCALL_LIMITER_URL": f"sqlite:///{tmp_path / 'limiter.sqlite'}"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AIRCALL_ACCOUNTS_FILE", "AIRCALL_TIMEZONE", "AIRCALL_PARTITIONS_START"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    resources = build_resources(settings)
    with dg.instance_for_test() as instance:
        assets = build_raw_assets(partitions_for(settings))
        result = dg.materialize(assets, selection=[key("users")], instance=registered(instance),
                                partition_key=pk(day), raise_on_error=False,
                                resources={k: resources[k] for k in (ACCOUNTS_RESOURCE, AIRCALL_RESOURCE)})
        assert not result.success
        steps = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START]
        retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
        assert len(steps) == 1 and retries == []  # the RetryPolicy never re-ran the rejected key

        tick_failure_sensor(instance, result.run_id)

    assert len(webhook.received) == 1
    alert = webhook.payloads[0]
    assert alert["kind"] == "auth"
    assert mrkdwn_escape(NEW_KEY_ADVICE) in alert["text"]
    assert day in alert["title"]
    assert alert["details"]["partition"] == f"default|{day}"
    assert SECRET_TOKEN not in webhook.raw
