"""deploy/scripts/create_buckets.py against moto's S3 server, with the pipeline's Object Lock settings.

The compose `s3_init` service passes EVIDENCE_RETENTION_DAYS / EVIDENCE_RETENTION_MODE to the script:
a new evidence bucket is created with Object Lock and that default retention, and the pipeline, with
the same variables, then writes locked evidence that `verify` accepts. An existing bucket without
Object Lock fails at once when a retention is asked for (the pipeline would refuse every write).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from aircall_pipeline.cli import main
from aircall_pipeline.config.settings import RETENTION_DAYS_VAR, RETENTION_MODE_VAR, Settings
from aircall_pipeline.evidence.backends import Retention
from aircall_pipeline.evidence.signing import keygen, load_signer
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline_tests.deploy.conftest import DEPLOY, base_env
from aircall_pipeline_tests.evidence.test_integrity import D1, seal

SCRIPT = DEPLOY / "scripts" / "create_buckets.py"


def run_script(s3_env: str, **env: str) -> subprocess.CompletedProcess:
    full = {
        **base_env(),
        "AWS_ENDPOINT_URL_S3": s3_env,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto's dummy credentials
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--wait", "10"], env=full, capture_output=True, text=True, timeout=60
    )


def test_a_new_evidence_bucket_gets_the_pipelines_retention_and_takes_locked_signed_evidence(
    s3_env, s3_client, tmp_path, monkeypatch, capsys
):
    keygen(tmp_path / "evidence.key")
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    env = {
        "EVIDENCE_URI": f"s3://{bucket}/aircall",
        RETENTION_DAYS_VAR: "3",
        RETENTION_MODE_VAR: "governance",
    }
    result = run_script(s3_env, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    lock = s3_client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    rule = lock["Rule"]["DefaultRetention"]
    assert (rule["Mode"], rule["Days"]) == ("GOVERNANCE", 3)
    assert s3_client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    # The pipeline, configured by the same variables, writes locked evidence that verifies.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    retention = Retention(settings.retention_days, settings.retention_mode)
    store = EvidenceStore.from_uri(settings.default_account.evidence_uri, s3_client=s3_client, retention=retention)
    seal(store, D1, load_signer(f"file:{tmp_path / 'evidence.key'}"))
    assert main(["verify", store.uri, "--date", D1, "--public-key", str(tmp_path / "evidence.key.pub")]) == 0
    assert "governance lock until" in capsys.readouterr().out


def test_an_existing_bucket_without_object_lock_fails_when_a_retention_is_asked_for(
    s3_env, s3_client, s3_bucket
):
    uri = f"s3://{s3_bucket}/aircall"  # s3_bucket: created plainly, no Object Lock
    result = run_script(s3_env, EVIDENCE_URI=uri, **{RETENTION_DAYS_VAR: "30"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{RETENTION_DAYS_VAR}=30" in result.stderr and "no Object Lock" in result.stderr
    assert "exists, left as it is" in result.stdout  # never modified
    assert s3_client.get_bucket_versioning(Bucket=s3_bucket).get("Status") is None
    # Without a retention the same bucket is accepted, as before (with the versioning warning).
    result = run_script(s3_env, EVIDENCE_URI=uri)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "days, mode, message", [("x", "", "not a whole number"), ("5", "legal", "compliance or governance")]
)
def test_bad_retention_settings_are_refused_before_any_bucket_is_made(s3_env, s3_client, days, mode, message):
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    result = run_script(
        s3_env, EVIDENCE_URI=f"s3://{bucket}", **{RETENTION_DAYS_VAR: days, RETENTION_MODE_VAR: mode}
    )
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert bucket not in [b["Name"] for b in s3_client.list_buckets()["Buckets"]]
