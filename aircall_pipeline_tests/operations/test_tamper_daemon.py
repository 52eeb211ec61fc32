"""The tamper alert end to end: the real daily job against the Aircall sandbox seals a signed day,
an insider plants manifest attempts in the day's report folder, the job seals the day again, and the
real sensor daemon's iterations (over the project's code location, in a gRPC code server started
once for the whole test) deliver the alerts to a live webhook receiver on loopback."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from aircall_pipeline.evidence.manifest import json_bytes
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import TAMPER_METADATA
from aircall_pipeline.operations.tamper_alerts import REASON_LABELS
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.operations.jobs import API_ID, SECRET_TOKEN
from aircall_pipeline_tests.operations.sensor_daemon import sensor_daemon
from aircall_pipeline_tests.test_daily_job import YESTERDAY, root_cause, run_day

FOLDER = f"aircall/reports/date={YESTERDAY}"


@pytest.fixture
def env(webhook, make_sandbox, sandbox_account, tmp_path, monkeypatch):
    """A deployment pointed at the sandbox (credentials as the alert tests' secret), alerts to `webhook`."""
    server = make_sandbox(api_id=API_ID, api_token=SECRET_TOKEN, rate_limit=600, window_seconds=6)
    values = deployment_env(server, sandbox_account, tmp_path, api_id=API_ID, api_token=SECRET_TOKEN)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def seal(instance: dg.DagsterInstance) -> list[dict]:
    """Run the whole day's job (a day is sealed only by the run that judged it) -> the report's tamper metadata."""
    result = run_day(YESTERDAY, instance)
    assert result.success, root_cause(result)
    (report,) = [e.materialization for e in result.get_asset_materialization_events()
                 if e.asset_key.path[-1] == "evidence_report"]
    return report.metadata[TAMPER_METADATA].value


def tamper_alerts(webhook) -> list[dict]:
    return [p for p in webhook.payloads if p["kind"] == "tamper"]


@pytest.mark.slow
def test_the_daemon_sends_one_tamper_alert_per_planted_object(env, webhook):
    store = EvidenceStore.from_uri(env["EVIDENCE_URI"])
    with dg.instance_for_test() as instance, sensor_daemon(instance) as tick:
        tick()
        assert seal(instance) == []
        tick()
        assert tamper_alerts(webhook) == []

        # An insider's copy of the signed manifest, edited and put beside it without a signature.
        data = json.loads(store.backend.get(f"{FOLDER}/manifest.json"))
        data.update(attempt=2, company="Someone Else Ltd")
        unsigned = f"{FOLDER}/manifest.attempt-2.json"
        assert store.backend.put_if_absent(unsigned, json_bytes(data))
        assert [r["path"] for r in seal(instance)] == [unsigned]
        tick()
        tick()
        (alert,) = tamper_alerts(webhook)
        assert unsigned in alert["text"] and REASON_LABELS["missing"] in alert["text"]
        assert YESTERDAY in alert["title"] and alert["severity"] == "critical"
        assert f"aircall-pipeline verify --date {YESTERDAY}" in alert["text"]

        # A malformed object planted later is alerted on its own; the unsigned one never again.
        malformed = f"{FOLDER}/manifest.attempt-4.json"
        assert store.backend.put_if_absent(malformed, b'{"date": "' + YESTERDAY.encode() + b'"')
        assert [r["path"] for r in seal(instance)] == [malformed]
        tick()
        assert seal(instance) == []
        tick()
        first, second = tamper_alerts(webhook)
        assert malformed in second["text"] and unsigned not in second["text"]
        assert REASON_LABELS["malformed"] in second["text"]
        assert SECRET_TOKEN not in webhook.raw
