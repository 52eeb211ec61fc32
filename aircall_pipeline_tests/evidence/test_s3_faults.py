"""S3 faults against a real S3 server over HTTP (moto's ThreadedMotoServer on loopback).

What is real here: the HTTP endpoint, the missing bucket, the conditional put (If-None-Match: *)
answered 412 by the server, and access denial evaluated by the server's IAM engine against a user's
policy (moto's IAM enforcement switched on). The unreachable endpoint is a real closed port on
127.0.0.1. The local read-only case uses a file where a folder must be, because the tests may run as
root, which ignores chmod.
"""

from __future__ import annotations

import socket

import boto3
import pytest

from aircall_pipeline.evidence.backends import S3_MAX_ATTEMPTS
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError, default_s3_client
from aircall_pipeline_tests.evidence.conftest import users_frame
from aircall_pipeline_tests.fixtures.s3 import DUMMY_SECRET

DAY = "2026-03-14"
FIELDS = {"run_id": "r", "api_url": "u", "company": "c", "requests": {}, "collected_at": "2026-03-15T00:00:00Z"}


def test_conditional_put_is_enforced_by_the_server(s3_store: EvidenceStore):
    backend = s3_store.backend
    assert backend.put_if_absent("aircall/x/one.json", b"first") is True
    assert backend.put_if_absent("aircall/x/one.json", b"second") is False  # 412 from the server
    assert backend.get("aircall/x/one.json") == b"first"
    assert backend._conditional_put is True  # no fallback to head-then-put was needed


def test_default_client_follows_aws_endpoint_url_s3(s3_env, s3_bucket):
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/p")  # no client given: boto3 defaults
    assert store.backend.client.meta.endpoint_url == s3_env
    store.write_table("users", DAY, users_frame())
    assert store.dates("users") == [DAY]


def test_missing_bucket(s3_client):
    store = EvidenceStore.from_uri("s3://no-such-evidence-bucket/prod", s3_client=s3_client)
    with pytest.raises(EvidenceStoreError, match="bucket no-such-evidence-bucket does not exist: create it or "
                                                 "fix EVIDENCE_URI") as info:
        store.write_table("users", DAY, users_frame())
    assert info.value.kind == "missing_bucket"
    with pytest.raises(EvidenceStoreError, match="does not exist"):
        store.write_report(DAY, checks=[], manifest_fields=FIELDS, tables=["users"])
    with pytest.raises(EvidenceStoreError, match="does not exist"):
        store.verify(DAY)


def _allow(*actions: str) -> list[dict]:
    return [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]


def _client(s3_env: str, key_id: str, secret: str):
    return boto3.session.Session().client(
        "s3", endpoint_url=s3_env, region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret
    )


def test_put_denied_by_iam_writes_nothing_and_names_the_permission(s3_env, s3_bucket, s3_client, s3_enforce_iam):
    # Day 1 sealed while the pipeline still could write.
    writer = EvidenceStore.from_uri(f"s3://{s3_bucket}/prod", s3_client=s3_client)
    writer.write_table("users", "2026-03-13", users_frame())
    key_id, secret = s3_enforce_iam(_allow("s3:GetObject", "s3:ListBucket"))  # read-only identity
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/prod", s3_client=_client(s3_env, key_id, secret))
    with pytest.raises(EvidenceStoreError) as info:
        store.write_table("users", DAY, users_frame())
    message = str(info.value)
    assert info.value.kind == "access_denied"
    assert "access denied: s3:PutObject on s3://" in message
    assert f"prod/aircall/users/date={DAY}/users.parquet" in message
    assert "s3:PutObject, s3:GetObject and s3:ListBucket" in message
    assert secret not in message and key_id not in message
    # Reading still works with the read-only identity; nothing for DAY was written.
    assert store.dates("users") == ["2026-03-13"]
    assert len(store.read_table("users", "2026-03-13")) == 2


def test_report_denied_leaves_no_manifest(s3_env, s3_bucket, s3_client, s3_enforce_iam):
    writer = EvidenceStore.from_uri(f"s3://{s3_bucket}/prod", s3_client=s3_client)
    writer.write_table("users", DAY, users_frame())
    # May write table files but not into reports/ (a deny on that prefix).
    key_id, secret = s3_enforce_iam(
        _allow("s3:GetObject", "s3:ListBucket", "s3:PutObject")
        + [{"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{s3_bucket}/prod/aircall/reports/*"}]
    )
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/prod", s3_client=_client(s3_env, key_id, secret))
    with pytest.raises(EvidenceStoreError, match="access denied: s3:PutObject .*checks.json"):
        store.write_report(DAY, checks=[], manifest_fields=FIELDS, tables=["users"])
    assert store.backend.list(f"aircall/reports/date={DAY}") == []
    assert not store.verify(DAY).ok


def test_list_denied_names_list_bucket(s3_env, s3_bucket, s3_enforce_iam):
    key_id, secret = s3_enforce_iam(_allow("s3:PutObject", "s3:GetObject"))
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/prod", s3_client=_client(s3_env, key_id, secret))
    with pytest.raises(EvidenceStoreError, match=f"s3:ListBucket on s3://{s3_bucket}/prod") as info:
        store.dates("users")
    assert info.value.kind == "access_denied"


def test_unknown_access_key_is_a_credentials_error(s3_env, s3_bucket, s3_enforce_iam):
    s3_enforce_iam(_allow("s3:*"))
    store = EvidenceStore.from_uri(
        f"s3://{s3_bucket}/prod", s3_client=_client(s3_env, "AKIAUNKNOWN000000000", DUMMY_SECRET)
    )
    with pytest.raises(EvidenceStoreError, match="rejected the AWS credentials") as info:
        store.write_table("users", DAY, users_frame())
    assert info.value.kind == "credentials" and "AKIAUNKNOWN" not in str(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_endpoint_down_fails_fast_with_advice(s3_env, monkeypatch):
    dead = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", dead)
    client = default_s3_client()
    attempts: list[str] = []
    client.meta.events.register("before-send.s3", lambda request, **_: attempts.append(request.url))
    store = EvidenceStore.from_uri("s3://evidence-bucket/prod", s3_client=client)
    with pytest.raises(EvidenceStoreError) as info:
        store.write_table("users", DAY, users_frame())
    # Bounded retries, not minutes: the first request's attempts, then the error.
    assert 1 <= len(attempts) <= S3_MAX_ATTEMPTS and all(url.startswith(dead) for url in attempts)
    message = str(info.value)
    assert info.value.kind == "endpoint_unreachable"
    assert dead in message and "AWS_ENDPOINT_URL_S3" in message
    assert DUMMY_SECRET not in message


def test_local_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "evidence"
    blocker.mkdir()
    (blocker / "aircall").write_text("a file where the layout needs a folder")
    store = EvidenceStore.from_uri(blocker)
    with pytest.raises(EvidenceStoreError, match="is a file") as info:
        store.write_table("users", DAY, users_frame())
    assert info.value.kind in ("invalid_uri", "access_denied")
