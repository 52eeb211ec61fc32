"""Evidence that holds up against an insider: every attack below is tried on real storage (moto's S3
server over HTTP, and a local folder), and `aircall-pipeline verify` must exit 1 naming what is wrong,
while untouched signed evidence verifies with exit 0.

The insider can create objects in the bucket (the pipeline's own s3:PutObject) but does not hold the
signing key.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from aircall_pipeline.cli import main
from aircall_pipeline.evidence.backends import Retention
from aircall_pipeline.evidence.manifest import json_bytes
from aircall_pipeline.evidence.signing import SigningError, TrustedKey, load_signer, sign_manifest
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
from aircall_pipeline.evidence.verify import verify_range
from aircall_pipeline_tests.evidence.conftest import users_frame
from aircall_pipeline_tests.evidence.days import seal_day
from aircall_pipeline_tests.evidence.test_manifest import CHECKS, fields, tamper

D1, D2, D3 = "2026-03-13", "2026-03-14", "2026-03-15"
USERS_CSV = f"aircall/users/date={D1}/users.csv"
MANIFEST = f"aircall/reports/date={D1}/manifest.json"


def seal(store: EvidenceStore, day: str, signer, run_id: str = "run-1", names=("Ada", "Grace", "Mallory"),
         checks=CHECKS, **options):
    return seal_day(store, day, tables={"users": users_frame(names), "teams": users_frame(("Sales",))},
                    checks=checks, fields=fields(run_id), signer=signer, **options)


def put(store: EvidenceStore, path: str, data: bytes) -> None:
    """What an insider with s3:PutObject (or write access to the folder) can do: create a new object."""
    assert store.backend.put_if_absent(path, data), f"{path} already exists"


def forge_attempt_2(store: EvidenceStore, *, smart: bool) -> tuple[str, bytes]:
    """The issue's attack: users.csv without one row as users.attempt-2.csv, and a copy of the manifest
    as manifest.attempt-2.json pointing at it with the new SHA-256, bytes and rows. A `smart` forger
    also fixes the attempt number and chains the copy to attempt 1."""
    original = store.backend.get(USERS_CSV)
    lines = original.decode().splitlines(keepends=True)
    forged_csv = "".join(lines[:-1]).encode()  # Mallory is gone
    forged_path = f"aircall/users/date={D1}/users.attempt-2.csv"
    put(store, forged_path, forged_csv)
    raw = store.backend.get(MANIFEST)
    data = json.loads(raw)
    for artifact in data["artifacts"]:
        if artifact["path"] == USERS_CSV:
            artifact.update(path=forged_path, sha256=store.stored_artifact(forged_path).sha256,
                            bytes=len(forged_csv), rows=artifact["rows"] - 1)
    if smart:
        import hashlib

        data["attempt"] = 2
        data["previous_attempt"] = {"path": MANIFEST, "sha256": hashlib.sha256(raw).hexdigest(),
                                    "bytes": len(raw), "attempt": 1}
        data["other_files"] = [store.stored_artifact(USERS_CSV).as_dict()]
    path = f"aircall/reports/date={D1}/manifest.attempt-2.json"
    body = json_bytes(data)
    put(store, path, body)
    return path, body


def verify_cli(store: EvidenceStore, key_pub: str, *extra: str) -> int:
    return main(["verify", store.uri, "--date", D1, "--public-key", key_pub, *extra])


@pytest.fixture
def sealed(s3_store, signer):
    seal(s3_store, D1, signer)
    return s3_store


def test_untouched_signed_evidence_verifies(store, signer, key_pair, capsys):
    seal(store, D1, signer)
    seal(store, D2, signer)
    assert main(["verify", store.uri, "--date", D1, "--to", D2, "--public-key", key_pair[1]]) == 0
    out = capsys.readouterr().out
    assert out.count("verdict:  VALID") == 2 and "2 of 2 days valid" in out
    assert "signature valid" in out


@pytest.mark.parametrize("smart", [False, True])
def test_forged_attempt_2_without_signature(sealed, key_pair, capsys, smart):
    assert verify_cli(sealed, key_pair[1]) == 0
    capsys.readouterr()
    forged, _ = forge_attempt_2(sealed, smart=smart)
    assert verify_cli(sealed, key_pair[1]) == 1
    out = capsys.readouterr().out
    assert f"FORGED {forged}: it has no signature file" in out
    # Naive or smart, nothing a forgery says is believed: what it lists stays unlisted.
    assert f"UNLISTED aircall/users/date={D1}/users.attempt-2.csv" in out
    assert "NOT VERIFIED" in out and "VALID" not in out


def test_forged_attempt_2_signed_by_another_key(sealed, key_pair, other_key_pair, capsys):
    forged, body = forge_attempt_2(sealed, smart=True)
    insider = load_signer(f"file:{other_key_pair[0]}")
    put(sealed, forged[:-5] + ".sig", sign_manifest(insider, forged, body).to_json())
    assert verify_cli(sealed, key_pair[1]) == 1
    out = capsys.readouterr().out
    assert f"signed by another key ({insider.key_fingerprint})" in out


def test_forged_attempt_2_with_a_moved_signature(sealed, key_pair, capsys):
    forged, _ = forge_attempt_2(sealed, smart=True)
    put(sealed, forged[:-5] + ".sig", sealed.backend.get(MANIFEST[:-5] + ".sig"))
    assert verify_cli(sealed, key_pair[1]) == 1
    assert "the file was changed or the signature moved" in capsys.readouterr().out


def test_forged_signature_bytes_fail_cryptographic_check(sealed, key_pair, capsys, signer):
    """A signature file claiming the trusted fingerprint, over the right statement, but made up."""
    forged, body = forge_attempt_2(sealed, smart=True)
    fake = sign_manifest(signer, forged, body)
    fake = type(fake)(**{**fake.__dict__, "signature": bytes(64)})
    put(sealed, forged[:-5] + ".sig", fake.to_json())
    assert verify_cli(sealed, key_pair[1]) == 1
    assert "does not match the trusted key" in capsys.readouterr().out


def test_rehashed_manifest_breaks_its_signature(local_store, signer, key_pair, capsys):
    """Altering a file and rewriting the manifest consistently (possible on a local folder) is caught
    by the signature over the manifest's exact bytes."""
    manifest = seal(local_store, D1, signer)
    forged_csv = local_store.backend.get(USERS_CSV).replace(b"mallory@", b"someone@")
    tamper(local_store, USERS_CSV, forged_csv)
    data = dict(manifest.data)
    for artifact in data["artifacts"]:
        if artifact["path"] == USERS_CSV:
            artifact["sha256"] = local_store.stored_artifact(USERS_CSV).sha256
    tamper(local_store, MANIFEST, json_bytes(data))
    v = local_store.verify(D1, trusted=TrustedKey.from_pem_file(key_pair[1]))
    # The hashes are consistent, but the signature no longer covers the manifest: it is a forgery, and
    # nothing it lists counts as listed.
    assert not v.authenticated and v.manifest_path is None
    assert any(p.startswith(f"FORGED {MANIFEST}") and "the file was changed or the signature moved" in p
               for p in v.problems)


def test_deleted_file_with_a_delete_marker(s3_client, s3_bucket, signer, trusted):
    s3_client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/v", s3_client=s3_client)
    seal(store, D1, signer)
    s3_client.delete_object(Bucket=s3_bucket, Key=f"v/{USERS_CSV}")  # leaves a delete marker
    v = store.verify(D1, trusted=trusted)
    assert not v.ok
    [bad] = [f for f in v.files if not f.ok]
    assert (bad.path, bad.status) == (USERS_CSV, "DELETED") and "delete marker" in bad.detail


def test_deleted_file_without_versioning(sealed, trusted):
    tamper(sealed, USERS_CSV, None)
    v = sealed.verify(D1, trusted=trusted)
    assert [(f.path, f.status) for f in v.files if not f.ok] == [(USERS_CSV, "MISSING")]


def test_unlisted_extra_file(sealed, key_pair, capsys):
    extra = f"aircall/users/date={D1}/users.attempt-3.csv"
    put(sealed, extra, b"user_id,name\n1,Eve\n")
    put(sealed, f"aircall/backdoor/date={D1}/notes.csv", b"x\n")
    assert verify_cli(sealed, key_pair[1]) == 1
    out = capsys.readouterr().out
    assert f"UNLISTED {extra}" in out and f"UNLISTED aircall/backdoor/date={D1}/notes.csv" in out


def test_a_gap_in_a_range(store, signer, key_pair, capsys):
    seal(store, D1, signer)
    seal(store, D3, signer)
    assert main(["verify", store.uri, "--date", D1, "--to", D3, "--public-key", key_pair[1], "--json"]) == 1
    days = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["date"], d["valid"]) for d in days] == [(D1, True), (D2, False), (D3, True)]
    assert "gap" in days[1]["problems"][0]


def test_a_day_deleted_from_the_middle_of_the_chain(local_store, signer, trusted):
    for day in (D1, D2, D3):
        seal(local_store, day, signer)
    for name in ("manifest.json", "manifest.sig"):
        tamper(local_store, f"aircall/reports/date={D2}/{name}", None)
    result = verify_range(local_store, D1, D3, trusted)
    assert [d.authenticated for d in result.days] == [True, False, False]
    assert any("is missing" in p for p in result.days[2].problems)  # D3's link to D2 is dangling


def test_a_day_superseded_after_the_next_day_was_sealed(s3_store, signer, key_pair, capsys):
    t0 = datetime(2026, 3, 14, 2, 15, tzinfo=UTC)
    s3_store.clock = lambda: t0
    seal(s3_store, D1, signer)
    s3_store.clock = lambda: t0 + timedelta(days=1)
    seal(s3_store, D2, signer)
    s3_store.clock = lambda: t0 + timedelta(days=1, hours=5)
    rerun = seal(s3_store, D1, signer, run_id="run-2", names=("Ada", "Grace"))  # Mallory quietly removed
    assert rerun["reason"]["changed_tables"] == ["users"]
    assert verify_cli(s3_store, key_pair[1]) == 1
    out = capsys.readouterr().out
    assert "sealed 2026-03-15T07:15:00Z) superseded" in out and f"after {D2} was sealed (2026-03-15T02:15:00Z)" in out
    # The next day itself is still intact.
    assert main(["verify", s3_store.uri, "--date", D2, "--public-key", key_pair[1]]) == 0


def test_a_rerun_before_the_next_day_is_a_valid_chain(sealed, signer, key_pair, capsys):
    second = seal(sealed, D1, signer, run_id="run-2", names=("Ada", "Grace"))
    assert second["previous_attempt"]["signature"] == "valid"
    assert verify_cli(sealed, key_pair[1]) == 0
    out = capsys.readouterr().out
    assert "attempt:  2" in out and "new data since the previous attempt: users" in out


def test_a_failed_signature_writes_no_manifest_then_a_rerun_seals_the_day(local_store, signer, trusted):
    class Broken:
        algorithm, key_fingerprint, key_ref, public_key = (
            signer.algorithm, signer.key_fingerprint, signer.key_ref, signer.public_key)

        def sign(self, message):
            raise SigningError("KMS kms:Sign failed (ThrottlingException)")

    with pytest.raises(SigningError):
        seal(local_store, D1, Broken())
    # The signature comes before the manifest: no manifest (signed or not) was left behind.
    assert not [k for k in local_store.backend.list(f"aircall/reports/date={D1}") if "manifest" in k]
    v = local_store.verify(D1, trusted=trusted)
    assert not v.ok and "no manifest" in v.problems[0]
    rerun = seal(local_store, D1, signer, run_id="run-2")
    assert rerun["previous_attempt"] is None and rerun["reason"]["kind"] == "first"
    v = local_store.verify(D1, trusted=trusted)
    assert v.authenticated, v.summary()


def test_unreadable_bucket_is_exit_2_never_missing(sealed, s3_enforce_iam, s3_bucket, key_pair, monkeypatch, capsys):
    key_id, secret = s3_enforce_iam([{"Effect": "Allow", "Action": "s3:ListBucket",
                                      "Resource": f"arn:aws:s3:::{s3_bucket}"}])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    assert main(["verify", sealed.uri, "--date", D1, "--public-key", key_pair[1]]) == 2
    captured = capsys.readouterr()
    assert "access denied" in captured.err and "s3:GetObject" in captured.err
    assert "MISSING" not in captured.out


# ---- signing keys ------------------------------------------------------------------------------


def test_bad_signing_keys_fail_with_advice_and_no_key_material(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(SigningError, match="EVIDENCE_SIGNING_KEY=file:.*no such file.*keygen"):
        load_signer(f"file:{tmp_path / 'absent.key'}")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot-base64-SECRETMATERIAL\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SigningError, match="not a PEM private key") as info:
        load_signer(f"file:{garbage}")
    assert "SECRETMATERIAL" not in str(info.value)
    wrong = tmp_path / "ec.key"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    wrong.write_bytes(pem)
    with pytest.raises(SigningError, match="not Ed25519") as info:
        load_signer(f"file:{wrong}")
    assert pem.decode().splitlines()[1] not in str(info.value)
    with pytest.raises(SigningError, match="must be file:PATH .* or awskms:"):
        load_signer("pem:-----BEGIN")


def test_kms_signed_evidence_verifies_with_the_kms_public_key(kms, s3_client, s3_bucket, capsys):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    signer = load_signer(f"awskms:{key_id}", kms_client=kms)
    assert signer.algorithm == "ecdsa-p256-sha256"
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/kms", s3_client=s3_client)
    seal(store, D1, signer)
    sig = json.loads(store.backend.get(MANIFEST[:-5] + ".sig"))
    assert sig["key_ref"] == key_id and sig["key_fingerprint"] == signer.key_fingerprint
    assert main(["verify", store.uri, "--date", D1, "--kms-key-id", key_id]) == 0
    assert "VALID" in capsys.readouterr().out
    other = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    assert main(["verify", store.uri, "--date", D1, "--kms-key-id", other]) == 1
    assert "signed by another key" in capsys.readouterr().out


def test_kms_keys_that_cannot_sign_fail_at_once(kms):
    encrypt_only = kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(SigningError, match="SIGN_VERIFY"):
        load_signer(f"awskms:{encrypt_only}", kms_client=kms)
    # (A disabled key is refused by AWS's GetPublicKey/Sign; moto does not model that, so it is not tried here.)
    with pytest.raises(SigningError, match="no such key"):
        load_signer(f"awskms:{uuid.uuid4()}", kms_client=kms)


# ---- Object Lock ------------------------------------------------------------------------------


def test_object_lock_retention_on_every_object_and_in_verify(s3_client, signer, key_pair, capsys):
    bucket = f"locked-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store = EvidenceStore.from_uri(f"s3://{bucket}/x", s3_client=s3_client, retention=Retention(30, "compliance"))
    seal(store, D1, signer)
    keys = store.backend.list("aircall")
    assert keys
    for key in keys:
        head = s3_client.head_object(Bucket=bucket, Key=f"x/{key}")
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=29)
    assert main(["verify", store.uri, "--date", D1, "--public-key", key_pair[1]]) == 0
    assert "compliance lock until" in capsys.readouterr().out


def test_retention_on_a_bucket_without_object_lock_fails_at_once(s3_store, s3_client, s3_bucket):
    store = EvidenceStore.from_uri(s3_store.uri, s3_client=s3_client, retention=Retention(30))
    with pytest.raises(EvidenceStoreError, match="has no S3 Object Lock.*put-object-lock-configuration") as info:
        store.write_table("users", D1, users_frame())
    assert info.value.kind == "object_lock" and not info.value.retryable
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


def test_retention_needs_s3(tmp_path):
    with pytest.raises(EvidenceStoreError, match="not an s3:// bucket"):
        EvidenceStore.from_uri(tmp_path, retention=Retention(30))
