"""An auditor can check a manifest's signature with OpenSSL alone (scripts/check-signature.sh), without
running this project's code: the statement is rebuilt from the file and the path it was fetched from.
Real keys (the project's keygen, and a KMS key on moto's server) and real sealed evidence."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from aircall_pipeline.evidence.signing import load_signer, statement
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.evidence.timestamping import check_token, stamp, token_path
from aircall_pipeline_tests.evidence.test_integrity import D1, MANIFEST, seal

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check-signature.sh"
ATTEMPT_2 = MANIFEST.replace("manifest.json", "manifest.attempt-2.json")

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def check(root: Path, relative: str, public_key: str | Path, *tsa_ca: str, env=None) -> subprocess.CompletedProcess:
    return run_script([str(root), relative, str(public_key), *tsa_ca], env=env)


def run_script(args: list[str], env=None) -> subprocess.CompletedProcess:
    """The script in its own process group. The timeout is what proves that a FIFO input never makes
    it wait: a hang fails the test, and the whole group is killed (a child blocked opening a FIFO
    would otherwise outlive the test)."""
    with subprocess.Popen(["sh", str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"check-signature.sh {' '.join(args)} did not finish within 30 s (it waits on an input)")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


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


# --------------------------------------------------------------------------------------------------
# Inputs that are not regular files, and the exit statuses


@pytest.fixture
def sealed_copy(local_store, signer, tmp_path) -> Path:
    """A writable copy of a sealed, signed day."""
    seal(local_store, D1, signer)
    return copy_of(Path(local_store.uri), tmp_path, "copy")


def _replace(path: Path, kind: str) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "directory"])
@pytest.mark.parametrize("which", ["manifest", "signature", "public key"])
def test_an_input_that_is_not_a_regular_file_is_refused_unread(sealed_copy, key_pair, tmp_path, which, kind):
    key = tmp_path / "trusted.pub"
    shutil.copy(key_pair[1], key)
    target = {"manifest": sealed_copy / MANIFEST, "signature": sealed_copy / MANIFEST.replace(".json", ".sig"),
              "public key": key}[which]
    _replace(target, kind)
    result = check(sealed_copy, MANIFEST, key)
    assert result.returncode == 2, result.stderr
    assert "not a regular file" in result.stderr


def test_a_symlinked_manifest_is_refused_even_when_it_points_at_the_genuine_file(sealed_copy, key_pair):
    manifest = sealed_copy / MANIFEST
    genuine = manifest.with_name("genuine.json")
    manifest.rename(genuine)
    manifest.symlink_to(genuine.name)
    assert check(sealed_copy, MANIFEST, key_pair[1]).returncode == 2


def test_an_oversized_manifest_is_refused(sealed_copy, key_pair):
    manifest = sealed_copy / MANIFEST
    os.truncate(manifest, 16 * 1024 * 1024 + 1)  # sparse: cheap to make, 16 MiB + 1 to read
    result = check(sealed_copy, MANIFEST, key_pair[1])
    assert result.returncode == 2 and "larger than" in result.stderr


def test_an_unexpected_failure_exits_2_not_1(sealed_copy, key_pair):
    # mktemp fails: under `set -e` that used to end the script with mktemp's own status, 1 ("not valid").
    result = check(sealed_copy, MANIFEST, key_pair[1], env={**os.environ, "TMPDIR": str(sealed_copy / "no-such-dir")})
    assert result.returncode == 2 and "unexpected failure" in result.stderr


@pytest.mark.parametrize("args", [[], ["a", "b"], ["a", "b", "c", "d", "e"], ["a", "b", "c", ""]])
def test_usage_errors_exit_2(args):
    assert run_script(args).returncode == 2


# --------------------------------------------------------------------------------------------------
# Timestamp tokens (EVIDENCE_TSA_URL) checked with openssl ts -verify


def statement_of(root: Path, relative: str) -> bytes:
    data = (root / relative).read_bytes()
    return statement(relative, len(data), hashlib.sha256(data).hexdigest())


def put_token(root: Path, relative: str, token: bytes) -> None:
    (root / token_path(relative)).write_bytes(token)


def test_a_token_for_this_statement_verifies_and_its_time_is_printed(sealed_copy, key_pair, local_tsa):
    token = stamp(statement_of(sealed_copy, MANIFEST), [local_tsa.url])
    put_token(sealed_copy, MANIFEST, token)
    result = check(sealed_copy, MANIFEST, key_pair[1], local_tsa.ca_pem_path)
    assert result.returncode == 0, result.stderr
    printed = re.search(r"TIMESTAMP: the statement existed at (.+ GMT)", result.stdout)
    assert printed, result.stdout
    gen_time = check_token(token, statement_of(sealed_copy, MANIFEST)).gen_time
    assert datetime.strptime(" ".join(printed[1].split()), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC) == gen_time


def test_a_token_of_another_statement_does_not_verify(sealed_copy, key_pair, local_tsa):
    # A genuine token, but over the statement of another attempt's path: the statement names the path.
    put_token(sealed_copy, MANIFEST, stamp(statement(ATTEMPT_2, 1, "00" * 32), [local_tsa.url]))
    result = check(sealed_copy, MANIFEST, key_pair[1], local_tsa.ca_pem_path)
    assert result.returncode == 1 and "does not verify" in result.stderr


def test_a_token_from_a_tsa_under_another_ca_does_not_verify(sealed_copy, key_pair, local_tsa):
    put_token(sealed_copy, MANIFEST, stamp(statement_of(sealed_copy, MANIFEST), [local_tsa.untrusted_url]))
    assert check(sealed_copy, MANIFEST, key_pair[1], local_tsa.ca_pem_path).returncode == 1
    assert check(sealed_copy, MANIFEST, key_pair[1], local_tsa.other_ca_pem_path).returncode == 0


def test_a_missing_token_is_not_valid_when_a_tsa_ca_is_given(sealed_copy, key_pair, local_tsa):
    result = check(sealed_copy, MANIFEST, key_pair[1], local_tsa.ca_pem_path)
    assert result.returncode == 1 and result.stderr.startswith(f"UNSTAMPED: {MANIFEST}")
    # Without the CA the same day is valid, and says its time is not attested.
    plain = check(sealed_copy, MANIFEST, key_pair[1])
    assert plain.returncode == 0 and "not attested" in plain.stdout


def test_without_a_tsa_ca_an_existing_token_is_said_to_be_unchecked(sealed_copy, key_pair):
    put_token(sealed_copy, MANIFEST, b"not even a token")
    result = check(sealed_copy, MANIFEST, key_pair[1])
    assert result.returncode == 0 and "not checked" in result.stdout


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero", "directory"])
def test_a_token_that_is_not_a_regular_file_is_refused(sealed_copy, key_pair, local_tsa, kind):
    put_token(sealed_copy, MANIFEST, b"placeholder")
    _replace(sealed_copy / token_path(MANIFEST), kind)
    result = check(sealed_copy, MANIFEST, key_pair[1], local_tsa.ca_pem_path)
    assert result.returncode == 2 and "not a regular file" in result.stderr
