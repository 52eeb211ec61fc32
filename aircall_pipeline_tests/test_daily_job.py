"""The daily evidence job end to end: real Dagster runs against the sandbox over HTTP, writing to a
local folder and to moto's S3 server over the S3 protocol."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from trestle.oscal.assessment_results import AssessmentResults

from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE
from aircall_pipeline.compliance import rules
from aircall_pipeline.compliance.owner_inputs import sealed_policy
from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_assets, build_defs, build_resources
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.ingest import normalize
from aircall_pipeline.names import DAILY_JOB, OWNER_POLICY, report_key
from aircall_pipeline.resources.evidence_io_manager import COLUMN_SCHEMA_KEY, ROW_COUNT_KEY
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.partitions import pk, registered

TOKEN = "tok-7f3a-SECRET-e91c"  # distinctive, so a leak anywhere is found by a plain search
API_ID = "id-4242"
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
CHECK_IDS = {"AC-01", "AC-02", "AC-03", "AC-04", "AC-05", "AC-06", "AC-07", "AC-08", "AC-09", "AC-10", "AC-11",
             "AC-14", "AC-15", "AC-16"}


@pytest.fixture
def account() -> SandboxAccount:
    return SandboxAccount(seed=11, calls=600, days=10)


@pytest.fixture
def server(make_sandbox, account):
    # Time-compressed budget (600 per 6 s, the real shape a hundred times faster) on both sides.
    return make_sandbox(account=account, api_id=API_ID, api_token=TOKEN, rate_limit=600, window_seconds=6)


@pytest.fixture
def env(monkeypatch, tmp_path, server, account) -> dict[str, str]:
    """The environment of a deployment pointed at the sandbox, with a local evidence folder."""
    values = deployment_env(server, account, tmp_path, api_id=API_ID, api_token=TOKEN)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run_day(day: str = YESTERDAY, instance=None):
    job = build_defs(Settings.from_env()).resolve_job_def(DAILY_JOB)
    return job.execute_in_process(partition_key=pk(day), instance=registered(instance),
                                  raise_on_error=False)


def store_for_env() -> EvidenceStore:
    return EvidenceStore.from_uri(os.environ["EVIDENCE_URI"])


def root_cause(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "expected a failed step"
    error = failures[0].event_specific_data.error
    names = [error.cls_name]
    while error.cause is not None:
        error = error.cause
        names.append(error.cls_name)
    return " > ".join(names) + ": " + error.message


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_daily_job_writes_complete_verifiable_evidence(env, real_pdf):
    result = run_day()
    assert result.success, root_cause(result)

    store = store_for_env()
    verification = store.verify(YESTERDAY)
    assert verification.ok, verification.problems

    reports = Path(env["EVIDENCE_URI"]) / "aircall" / "reports" / f"date={YESTERDAY}"
    manifest = json.loads((reports / "manifest.json").read_text())
    assert manifest["date"] == YESTERDAY and manifest["run_id"] == result.run_id
    assert manifest["company"] == "Northwind Trading"
    assert {c["id"] for c in manifest["checks"]} == CHECK_IDS
    paths = {a["path"] for a in manifest["artifacts"]}
    for table in ("users", "calls", "call_windows", "ac06_dormant_accounts"):
        assert f"aircall/{table}/date={YESTERDAY}/{table}.parquet" in paths
        assert f"aircall/{table}/date={YESTERDAY}/{table}.csv" in paths
    assert manifest["requests"]["/v2/users"]["requests"] >= 1

    checks = {c["id"]: c for c in json.loads((reports / "checks.json").read_text())}
    assert checks["AC-01"]["status"] == "pass"
    assert checks["AC-14"]["status"] == "pass"
    # The sandbox account is built with a generic mailbox, a teamless user, an empty team and a
    # leaver still present: the checks must find them.
    assert checks["AC-05"]["status"] == "fail"
    assert checks["AC-08"]["status"] in ("warn", "fail")
    assert checks["AC-03"]["status"] == "fail"
    # Only the calls of the evidence day are stored so far: dormancy over 90 days cannot be judged.
    assert checks["AC-06"]["status"] in ("skip", "warn")
    assert "report.html" in {Path(p).name for p in paths}
    # What platforms take in, listed (so hashed and signed) by the manifest that verify just passed.
    assert {"report.pdf", "assessment-results.json", "records.jsonl"} <= {Path(p).name for p in paths}
    assert (reports / "report.pdf").read_bytes().startswith(b"%PDF-")
    document = json.loads((reports / "assessment-results.json").read_text())
    [oscal_result] = AssessmentResults.model_validate(document["assessment-results"]).results
    assert {o.props[0].value for o in oscal_result.observations} == CHECK_IDS
    policy = sealed_policy(store.read_table(OWNER_POLICY, YESTERDAY))
    sealed_at = datetime.fromisoformat(manifest["sealed_at"].replace("Z", "+00:00"))
    assert {(o.collected, o.expires) for o in oscal_result.observations} == {
        (sealed_at, sealed_at + timedelta(hours=policy.freshness_max_age_hours))}
    records = [json.loads(line) for line in (reports / "records.jsonl").read_text().splitlines()]
    assert {r["check_id"]: r["status"] for r in records} == {c: checks[c]["status"] for c in checks}

    users = store.read_table("users", YESTERDAY)
    assert len(users) == 25
    calls = store.read_table("calls", YESTERDAY)
    day = date.fromisoformat(YESTERDAY)
    assert calls["started_at"].dt.date.eq(day).all()

    # Every stored table, raw or findings, shows its columns and row count in the UI.
    stored = {e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
    for table in ("users", "calls", "team_members", "ac01_user_inventory", "ac06_dormant_accounts"):
        assert stored[table][ROW_COUNT_KEY].value == len(store.read_table(table, YESTERDAY))
        assert "rows" not in stored[table]  # one row count, Dagster's own
    raw = {c.name: c.type for c in stored["users"][COLUMN_SCHEMA_KEY].value.columns}
    assert raw == normalize.dtypes(normalize.USERS)
    findings = [c.name for c in stored["ac06_dormant_accounts"][COLUMN_SCHEMA_KEY].value.columns]
    assert tuple(findings[:6]) == rules.BASE_COLUMNS


def test_evidence_on_s3_over_the_s3_protocol(env, s3_env, s3_bucket, monkeypatch):
    monkeypatch.setenv("EVIDENCE_URI", f"s3://{s3_bucket}/prod")
    result = run_day()
    assert result.success, root_cause(result)
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/prod")
    assert store.verify(YESTERDAY).ok
    assert len(store.read_table("users", YESTERDAY)) == 25


def test_rerun_never_replaces_what_an_auditor_may_have_sampled(env):
    assert run_day().success
    evidence = Path(env["EVIDENCE_URI"])
    first = {p: p.read_bytes() for p in files_under(evidence)}
    second = run_day()
    assert second.success, root_cause(second)
    for path, content in first.items():
        assert path.read_bytes() == content, f"{path} was rewritten"
    reports = evidence / "aircall" / "reports" / f"date={YESTERDAY}"
    assert len(list(reports.glob("manifest*.json"))) == 2  # a second, separately named attempt
    assert store_for_env().verify(YESTERDAY).ok


def test_missing_bucket_fails_clearly_and_writes_no_manifest(env, s3_env, monkeypatch):
    monkeypatch.setenv("EVIDENCE_URI", "s3://no-such-evidence-bucket/prod")
    result = run_day()
    assert not result.success
    assert "does not exist" in root_cause(result)
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)  # retrying cannot help
    assert not any(e.event_type_value == "ASSET_MATERIALIZATION" and "evidence_report" in str(e.asset_key)
                   for e in result.all_events)


def test_revoked_key_fails_without_retry_and_writes_no_evidence(env, monkeypatch):
    monkeypatch.setenv("AIRCALL_API_TOKEN", "wrong-token")
    result = run_day()
    assert not result.success
    cause = root_cause(result)
    assert "AircallAuthError" in cause and NEW_KEY_ADVICE in cause
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    assert files_under(Path(env["EVIDENCE_URI"])) == []


def test_call_days_backfill_but_old_snapshots_are_refused(env):
    resources = build_resources(Settings.from_env())
    instance = dg.DagsterInstance.ephemeral()
    days = [(date.fromisoformat(YESTERDAY) - timedelta(days=n)).isoformat() for n in (3, 4, 5)]
    for day in days:
        result = dg.materialize(build_assets(Settings.from_env()), selection=[dg.AssetKey(["aircall", "calls"]), dg.AssetKey(["aircall", "call_windows"])], partition_key=pk(day),
                                resources=resources, instance=registered(instance))
        assert result.success
    store = store_for_env()
    assert [d for d in store.dates("calls") if d in days] == sorted(days)
    assert all(len(store.read_table("calls", d)) > 0 for d in days)

    old = dg.materialize(build_assets(Settings.from_env()), selection=[dg.AssetKey(["aircall", "users"])], partition_key=pk(days[0]), resources=resources,
                         instance=registered(instance), raise_on_error=False)
    assert not old.success
    assert "can no longer be taken" in root_cause(old)


def test_no_secret_reaches_evidence_logs_or_run_metadata(env, capfd):
    instance = dg.DagsterInstance.ephemeral()
    result = run_day(instance=registered(instance))
    assert result.success
    basic = base64.b64encode(f"{API_ID}:{TOKEN}".encode()).decode()
    forbidden = (TOKEN, basic, "X-Amz-Signature")
    for path in files_under(Path(env["EVIDENCE_URI"])):
        content = path.read_bytes()
        for secret in forbidden:
            assert secret.encode() not in content, f"{secret} found in {path}"
    logs = instance.all_logs(result.run_id)
    dumped = "\n".join(str(record.dagster_event or "") + record.user_message for record in logs)
    out, err = capfd.readouterr()
    for secret in forbidden:
        assert secret not in dumped
        assert secret not in out + err


def test_cli_run_then_verify_detects_tampering(env, tmp_path):
    cli = [sys.executable, "-m", "aircall_pipeline.cli"]
    proc = subprocess.run(cli + ["run", "--date", YESTERDAY], env=os.environ.copy(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "user_inventory" in proc.stdout and "Evidence written" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr

    verify = cli + ["verify", env["EVIDENCE_URI"], "--date", YESTERDAY]  # trusts EVIDENCE_PUBLIC_KEY
    ok = subprocess.run(verify, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VALID: complete and untampered" in ok.stdout

    users_csv = Path(env["EVIDENCE_URI"]) / "aircall" / "users" / f"date={YESTERDAY}" / "users.csv"
    users_csv.chmod(0o644)  # published evidence is read-only; the tamperer makes it writable first
    users_csv.write_text(users_csv.read_text().replace("@", "#", 1))
    tampered = subprocess.run(verify, capture_output=True, text=True, timeout=120)
    assert tampered.returncode != 0
    assert "users.csv" in tampered.stdout


def test_cli_run_without_credentials_says_what_to_do(env, monkeypatch):
    monkeypatch.delenv("AIRCALL_API_TOKEN")
    proc = subprocess.run([sys.executable, "-m", "aircall_pipeline.cli", "run", "--date", YESTERDAY],
                          env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "AIRCALL_API_TOKEN" in proc.stdout


# ---- the gate lives in the report asset ---------------------------------------------------------


def manifests(env) -> list[Path]:
    reports = Path(env["EVIDENCE_URI"]) / "aircall" / "reports" / f"date={YESTERDAY}"
    return sorted(reports.glob("manifest*.json"))


def materialize_report_alone(instance):
    return dg.materialize(build_assets(Settings.from_env()), selection=[report_key()], partition_key=pk(YESTERDAY),
                          resources=build_resources(Settings.from_env()), instance=registered(instance), raise_on_error=False)


def test_the_report_alone_never_seals_a_day(env):
    instance = dg.DagsterInstance.ephemeral()
    assert run_day(instance=registered(instance)).success
    assert len(manifests(env)) == 1
    alone = materialize_report_alone(instance)
    assert not alone.success
    assert "not sealed" in root_cause(alone) and "AC-01" in root_cause(alone)
    assert len(manifests(env)) == 1  # no second attempt from a run that judged nothing


def test_the_report_after_a_failed_ac14_writes_no_manifest(env, server):
    server.control(phantom_calls=3)  # the API counts calls it never serves: the day is incomplete
    instance = dg.DagsterInstance.ephemeral()
    failed = run_day(instance=registered(instance))
    assert not failed.success
    checks = [e for e in failed.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert any(e.event_specific_data.check_name == "calls_completeness" and not e.event_specific_data.passed
               for e in checks)
    alone = materialize_report_alone(instance)
    assert not alone.success
    assert "AC-14" in root_cause(alone)
    assert manifests(env) == []


def test_a_concurrent_calls_writer_between_checks_and_report_gets_no_manifest(env, monkeypatch):
    original = EvidenceStore.write_report

    def racing(self, day, **kwargs):
        # Another run (the UI, `aircall-pipeline run`) lands a new calls attempt just before sealing.
        calls = self.read_table("calls", day)
        self.write_table("calls", day, calls.iloc[:-1])
        return original(self, day, **kwargs)

    monkeypatch.setattr(EvidenceStore, "write_report", racing)
    result = run_day()
    assert not result.success
    cause = root_cause(result)
    assert "not the ones the checks judged" in cause and "calls" in cause
    assert manifests(env) == []
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_checks_record_the_files_they_judged(env):
    assert run_day().success
    reports = Path(env["EVIDENCE_URI"]) / "aircall" / "reports" / f"date={YESTERDAY}"
    checks = {c["id"]: c for c in json.loads((reports / "checks.json").read_text())}
    manifest = json.loads(manifests(env)[0].read_text())
    listed = {a["path"]: a["sha256"] for a in manifest["artifacts"]}
    judged = checks["AC-14"]["judged"]["call_windows"]
    assert listed[judged["path"]] == judged["sha256"]
    assert manifest["signing"]["status"] == "signed"


def test_an_unusable_signing_key_fails_the_run_at_once(env, monkeypatch, tmp_path):
    from aircall_pipeline.operations.failures import diagnose, facts_from_events

    wrong = tmp_path / "wrong.key"
    wrong.write_text("-----BEGIN PRIVATE KEY-----\nTHISISNOTAKEY\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{wrong}")
    result = run_day()
    assert not result.success
    diagnosis = diagnose(facts_from_events(result.all_events))
    assert diagnosis.kind == "config"
    assert "EVIDENCE_SIGNING_KEY" in diagnosis.text and "THISISNOTAKEY" not in diagnosis.text
    assert files_under(Path(env["EVIDENCE_URI"])) == []  # failed before anything was written


def test_a_day_is_sealed_with_proof_of_time_from_the_configured_tsa(env, monkeypatch, local_tsa, capsys):
    from aircall_pipeline.cli import main

    monkeypatch.setenv("EVIDENCE_TSA_URL", local_tsa.url)
    result = run_day()
    assert result.success, root_cause(result)
    report = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                  if e.asset_key.path[-1] == "evidence_report")
    assert report["timestamped"].value is True
    reports = Path(env["EVIDENCE_URI"]) / "aircall" / "reports" / f"date={YESTERDAY}"
    assert json.loads((reports / "manifest.json").read_text())["signing"]["timestamp_file"] == "manifest.tsr"
    assert (reports / "manifest.tsr").is_file()
    # EVIDENCE_PUBLIC_KEY is the deployment's; the TSA's root comes from EVIDENCE_TSA_CA.
    monkeypatch.setenv("EVIDENCE_TSA_CA", local_tsa.ca_pem_path)
    assert main(["verify", env["EVIDENCE_URI"], "--date", YESTERDAY]) == 0
    printed = capsys.readouterr().out
    assert "time:     attested by TSA CN=trusted test TSA" in printed and "verdict:  VALID" in printed


def test_an_unreachable_tsa_fails_the_report_and_seals_nothing(env, monkeypatch, local_tsa):
    monkeypatch.setenv("EVIDENCE_TSA_URL", local_tsa.dead_url)
    result = run_day()
    assert not result.success
    cause = root_cause(result)
    assert "report was not sealed" in cause and local_tsa.dead_url in cause and "EVIDENCE_TSA_URL" in cause
    reports = Path(env["EVIDENCE_URI"]) / "aircall" / "reports" / f"date={YESTERDAY}"
    assert not list(reports.glob("manifest*")) and not list(reports.glob("checks*"))
