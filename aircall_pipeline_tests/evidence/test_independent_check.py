"""An auditor can check a manifest's signature with OpenSSL alone (scripts/check-signature.sh), without
running this project's code: the statement is rebuilt from the file and the path it was fetched from.
Real keys (the project's keygen, and a KMS key on moto's server) and real sealed evidence."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from aircall_pipeline.evidence.signing import load_signer
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline_tests.evidence.test_integrity import D1, MANIFEST, seal

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check-signature.sh"
ATTEMPT_2 = MANIFEST.replace("manifest.json", "manifest.attempt-2.json")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def check(root: Path, relative: str, public_key: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(SCRIPT), str(root), relative, str(public_key)],
                          capture_output=True, text=True, timeout=60)


def copy_of(root: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(root, copy)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the store writes read-only files
    return copy


def test_ed25519_signature_checks_with_openssl_alone(local_store, signer, key_pair, other_key_pair, tmp_path):
    seal(local_store, D1, signer)
    root = Path(local_store.uri)
    ok = check(root, MANIFEST, key_pair[1])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"VALID: {MANIFEST}")

    # Signed by someone else's key.
    assert check(root, MANIFEST, other_key_pair[1]).returncode == 1

    # One byte changed in the manifest.
    altered = copy_of(root, tmp_path, "altered")
    manifest = altered / MANIFEST
    manifest.write_bytes(manifest.read_bytes().replace(b'"attempt": 1', b'"attempt": 2'))
    bad = check(altered, MANIFEST, key_pair[1])
    assert bad.returncode == 1 and "INVALID" in bad.stderr

    # A genuine manifest and signature copied to another attempt's name: the path is in the statement.
    moved = copy_of(root, tmp_path, "moved")
    for suffix in (".json", ".sig"):
        src = moved / MANIFEST.replace(".json", suffix)
        src.rename(moved / ATTEMPT_2.replace(".json", suffix))
    assert check(moved, ATTEMPT_2, key_pair[1]).returncode == 1


def test_an_unsigned_manifest_is_not_valid(local_store, signer, key_pair, tmp_path):
    seal(local_store, D1, signer)
    unsigned = copy_of(Path(local_store.uri), tmp_path, "unsigned")
    (unsigned / MANIFEST.replace(".json", ".sig")).unlink()
    result = check(unsigned, MANIFEST, key_pair[1])
    assert result.returncode == 1 and result.stderr.startswith(f"UNSIGNED: {MANIFEST}")
    assert check(unsigned, MANIFEST, unsigned / "no-such-key.pem").returncode == 2


def test_kms_signature_checks_with_openssl_and_the_kms_public_key(kms, s3_client, s3_bucket, tmp_path):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/kms", s3_client=s3_client)
    seal(store, D1, load_signer(f"awskms:{key_id}", kms_client=kms))
    # What the auditor does: download the day's report folder and the key's public half.
    root = tmp_path / "download"
    for name in (MANIFEST, MANIFEST.replace(".json", ".sig")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(store.backend.get(name))
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "kms.pem").write_bytes(pem)

    ok = check(root, MANIFEST, tmp_path / "kms.pem")
    assert ok.returncode == 0, ok.stderr
    (root / MANIFEST).write_bytes((root / MANIFEST).read_bytes() + b" ")
    assert check(root, MANIFEST, tmp_path / "kms.pem").returncode == 1
