"""AC-11 through the real daily job: the sandbox's webhooks (plain-text tokens, credentials in their
URLs) become the `webhooks` evidence table and the AC-11 verdict, and no secret reaches the evidence
files, the event log (messages and metadata), the alert or the process output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_defs
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import DAILY_JOB
from aircall_pipeline.operations.check_sensor import build_failed_check_alert_sensor
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.operations.jobs import API_ID, BASIC, SECRET_TOKEN
from aircall_pipeline_tests.partitions import pk, registered

YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.fixture
def account() -> SandboxAccount:
    return SandboxAccount(seed=11, calls=300, days=10)


@pytest.fixture
def env(webhook, make_sandbox, account, tmp_path, monkeypatch) -> dict[str, str]:
    """A deployment on the sandbox; the owner files include a policy approving every destination
    but the request inspector (the sandbox's `approved_webhook_domains`)."""
    server = make_sandbox(account=account, api_id=API_ID, api_token=SECRET_TOKEN, rate_limit=600, window_seconds=6)
    values = deployment_env(server, account, tmp_path, api_id=API_ID, api_token=SECRET_TOKEN)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run_watched(instance: dg.DagsterInstance):
    """The daily job (the one job, fixed keys) for the single account's yesterday, with the
    failed-check alert sensor watching, as the daemon would."""
    check_sensor = build_failed_check_alert_sensor()
    first = dg.build_sensor_context(instance=instance)
    check_sensor(first)
    job = build_defs(Settings.from_env()).resolve_job_def(DAILY_JOB)
    result = job.execute_in_process(partition_key=pk(YESTERDAY), instance=registered(instance),
                                    raise_on_error=False)
    assert result.success
    check_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    return result


def reports(env) -> Path:
    return Path(env["EVIDENCE_URI"]) / "aircall" / "reports" / f"date={YESTERDAY}"


def test_ac11_fails_on_the_plain_http_and_unapproved_destinations_and_no_secret_leaks(
    env, account, webhook, capfd
):
    with dg.instance_for_test() as instance:
        result = run_watched(instance)
        event_log = "\n".join(serialize_value(record) for record in instance.all_logs(result.run_id))

    checks = {c["id"]: c for c in json.loads((reports(env) / "checks.json").read_text())}
    ac11 = checks["AC-11"]
    assert ac11["status"] == catalogue.FAIL
    failed = {item["item_label"] for item in ac11["items"] if item["status"] == catalogue.FAIL}
    assert failed == {f"pbx-bridge.{account.domain}", "requestbin.example"}
    warned = {item["item_label"] for item in ac11["items"] if item["status"] == catalogue.WARN}
    assert warned == {"api.crm-partner.example"}  # subscribed to all events

    # The day's evidence lists the webhooks table, the findings and the requests made for them.
    manifest = json.loads((reports(env) / "manifest.json").read_text())
    paths = {a["path"] for a in manifest["artifacts"]}
    for table in ("webhooks", "ac11_webhook_egress"):
        assert {f"aircall/{table}/date={YESTERDAY}/{table}.parquet",
                f"aircall/{table}/date={YESTERDAY}/{table}.csv"} <= paths
    assert manifest["requests"]["/v1/webhooks"]["requests"] == 1
    store = EvidenceStore.from_uri(env["EVIDENCE_URI"])
    assert store.verify(YESTERDAY).ok
    stored = store.read_table("webhooks", YESTERDAY)
    assert sorted(stored["url_domain"]) == sorted(
        ["hooks.zapier.example", "api.crm-partner.example", f"pbx-bridge.{account.domain}", "requestbin.example",
         "hooks.slack.example", "ingest.warehouse.example"])

    # The alert names AC-11 (an error-severity failure) and its destinations, never their secrets.
    assert len(webhook.received) == 1
    alert = webhook.payloads[0]
    assert "AC-11 fail" in alert["title"] and alert["severity"] == "error"
    # ... of the single account's day: the one job's run of its partition, the title naming the day.
    assert alert["details"]["job"] == DAILY_JOB and alert["details"]["partition"] == pk(YESTERDAY)
    assert YESTERDAY in alert["title"]
    assert "requestbin.example" in alert["text"]

    # No token, no credential from a webhook URL, no whole URL, anywhere.
    forbidden = [*account.webhook_secrets(), *(w["url"] for w in account.webhooks), SECRET_TOKEN, BASIC,
                 "whsec-sandbox-", "urlsec-sandbox-"]
    files = sorted(p for p in Path(env["EVIDENCE_URI"]).rglob("*") if p.is_file())
    assert len(files) > 20
    assert "requestbin.example" in event_log  # the log searched holds the metadata (previews, check items)
    out, err = capfd.readouterr()
    for secret in forbidden:
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret} in {path}"
        assert secret not in event_log, f"{secret} in the event log"
        assert secret not in webhook.raw, f"{secret} in the alert"
        assert secret not in out + err, f"{secret} in the output"


def test_without_an_allow_list_ac11_skips_and_still_lists_every_destination(env, account, monkeypatch):
    monkeypatch.delenv("AIRCALL_POLICY_FILE")
    with dg.instance_for_test() as instance:
        result = run_watched(instance)
        [evaluation] = [e.event_specific_data for e in result.all_events
                        if e.event_type_value == "ASSET_CHECK_EVALUATION"
                        and e.event_specific_data.check_name == "webhook_egress"]
    assert not evaluation.passed  # a skip never looks green
    assert evaluation.metadata[catalogue.SKIP_CAUSE].value == catalogue.MISSING_CONFIGURATION
    ac11 = {c["id"]: c for c in json.loads((reports(env) / "checks.json").read_text())}["AC-11"]
    assert ac11["status"] == catalogue.SKIP and "approved_webhook_domains" in ac11["reason"]
    findings = EvidenceStore.from_uri(env["EVIDENCE_URI"]).read_table("ac11_webhook_egress", YESTERDAY)
    assert sorted(findings["item_id"]) == sorted(w["webhook_id"] for w in account.webhooks)
    assert findings.set_index("item_label").loc["hooks.slack.example", "status"] == catalogue.PASS  # inactive
    assert (findings["status"] == catalogue.SKIP).sum() == 5
