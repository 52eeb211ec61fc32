"""The alert path with the project's real asset, resource and client against the sandbox: a key the
API rejects becomes one `auth` alert, raised once (never retried), with no secret in it."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE
from aircall_pipeline.ingest.assets import build_raw_assets
from aircall_pipeline.ingest.resource import AircallResource
from aircall_pipeline.names import SINGLE_ACCOUNT
from aircall_pipeline.operations.alerts import mrkdwn_escape
from aircall_pipeline.sandbox.server import SANDBOX_API_ID
from aircall_pipeline_tests.operations.failure_ticks import tick_failure_sensor
from aircall_pipeline_tests.operations.jobs import SECRET_TOKEN


def test_rejected_key_through_the_real_client_alerts_auth_once(sandbox, webhook, tmp_path):
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()  # a snapshot date still collectable
    resource = AircallResource(api_id=SANDBOX_API_ID, api_token=SECRET_TOKEN, api_url=sandbox.url,
                               limiter_url=f"sqlite:///{tmp_path / 'limiter.sqlite'}")
    with dg.instance_for_test() as instance:
        partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01")
        assets = build_raw_assets(SINGLE_ACCOUNT, partitions)
        result = dg.materialize(assets, selection=[SINGLE_ACCOUNT.key("users")], instance=instance,
                                partition_key=day, raise_on_error=False,
                                resources={"aircall": resource})
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
    assert SECRET_TOKEN not in webhook.raw
