"""Detached signatures over manifests, and the trusted keys `verify` checks them against.

Two kinds of signer, named by `EVIDENCE_SIGNING_KEY`:

* `file:PATH` — a PEM PKCS#8 Ed25519 private key (`aircall-pipeline keygen PATH` makes one);
* `awskms:KEY_ID_OR_ARN` — an asymmetric AWS KMS key (ECC_NIST_P256, ECDSA_SHA_256). The private
  key never leaves KMS: the pipeline only calls `kms:Sign`.

What is signed (the model is CloudTrail's digest signing string): not the manifest bytes themselves
but a short statement naming the manifest's path, size and SHA-256, so one message fits KMS's 4 KiB
RAW limit whatever the manifest's size, and a signature cannot be moved to another file name::

    aircall-evidence-signature/1
    <path of the manifest, relative to the evidence root>
    <bytes>
    <sha256 hex of the manifest's exact bytes>

The signature file (`manifest.sig`, `manifest.attempt-2.sig`, ...) is JSON: the algorithm, the public
key's fingerprint (`sha256:` of its DER SubjectPublicKeyInfo), the statement's fields and the
base64 signature. `verify` never trusts a key found in the evidence: it checks signatures against
the key its user gives it (`TrustedKey`), and reads the fingerprint only to say whose key signed.

Errors are `SigningError`s whose messages name the variable and what to do, and never contain key
material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from aircall_pipeline.evidence.variables import SIGNING_KEY_VAR

STATEMENT_HEADER = "aircall-evidence-signature/1"
SIGNATURE_VERSION = 1
ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256-sha256"
KMS_SIGNING_ALGORITHM = "ECDSA_SHA_256"


class SigningError(RuntimeError):
    """A signing key or signature cannot be used; the message says what to do (never key material)."""


def statement(path: str, size: int, sha256: str) -> bytes:
    """The bytes a signature covers: the manifest's path, size and SHA-256 (see the module doc)."""
    return f"{STATEMENT_HEADER}\n{path}\n{size}\n{sha256}\n".encode()


def fingerprint(public_key: Any) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _algorithm_of(public_key: Any) -> str:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return ED25519
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        return ECDSA_P256
    raise SigningError(
        f"unsupported public key type {type(public_key).__name__}: use an Ed25519 key "
        "(aircall-pipeline keygen) or a KMS ECC_NIST_P256 key"
    )


class Signer(Protocol):
    algorithm: str
    key_fingerprint: str
    key_ref: str  # where the key lives, for the signature file ("file" or the KMS key id); not secret
    public_key: Any

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class Signature:
    """One signature file's content."""

    path: str
    bytes: int
    sha256: str
    algorithm: str
    key_fingerprint: str
    signature: bytes
    key_ref: str = ""

    def to_json(self) -> bytes:
        body = {
            "signature_version": SIGNATURE_VERSION,
            "signed_path": self.path,
            "signed_bytes": self.bytes,
            "signed_sha256": self.sha256,
            "algorithm": self.algorithm,
            "key_fingerprint": self.key_fingerprint,
            "key_ref": self.key_ref,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }
        return (json.dumps(body, sort_keys=True, indent=2) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Signature:
        """A signature file parsed against its declared schema (`schemas.SignatureFile`), or SigningError."""
        from aircall_pipeline.evidence.schemas import Malformed, SignatureFile, parse

        try:
            body = parse(SignatureFile, data)
            signature = base64.b64decode(body.signature, validate=True)
        except (Malformed, binascii.Error) as exc:
            raise SigningError(f"not a signature file the pipeline writes ({exc})") from None
        return cls(path=body.signed_path, bytes=body.signed_bytes, sha256=body.signed_sha256,
                   algorithm=body.algorithm, key_fingerprint=body.key_fingerprint, key_ref=body.key_ref,
                   signature=signature)


def sign_manifest(signer: Signer, path: str, data: bytes) -> Signature:
    sha = hashlib.sha256(data).hexdigest()
    return Signature(
        path=path,
        bytes=len(data),
        sha256=sha,
        algorithm=signer.algorithm,
        key_fingerprint=signer.key_fingerprint,
        key_ref=signer.key_ref,
        signature=signer.sign(statement(path, len(data), sha)),
    )


# --------------------------------------------------------------------------------------------------
# Signers


class FileSigner:
    """An Ed25519 private key from a PEM PKCS#8 file."""

    algorithm = ED25519
    key_ref = "file"

    def __init__(self, path: str | os.PathLike[str]):
        path = Path(path).expanduser()
        where = f"{SIGNING_KEY_VAR}=file:{path}"
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise SigningError(
                f"{where}: no such file. Create a key with `aircall-pipeline keygen {path}` (and give "
                "auditors the .pub file), or fix the path"
            ) from None
        except OSError as exc:
            raise SigningError(f"{where}: cannot read the key file ({exc.strerror})") from None
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except TypeError:
            raise SigningError(f"{where}: the key is encrypted; give an unencrypted PKCS#8 PEM key") from None
        except (ValueError, UnsupportedAlgorithm):
            raise SigningError(
                f"{where}: not a PEM private key. Use a PKCS#8 Ed25519 key made by "
                "`aircall-pipeline keygen PATH`"
            ) from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise SigningError(
                f"{where}: the key is {type(key).__name__.replace('PrivateKey', '').lstrip('_')}, not Ed25519. "
                "Use `aircall-pipeline keygen PATH` (or an awskms: key for ECDSA)"
            )
        self._key = key
        self.public_key = key.public_key()
        self.key_fingerprint = fingerprint(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


class KmsSigner:
    """An asymmetric KMS key (ECC_NIST_P256 / ECDSA_SHA_256): `kms:Sign` on the statement, RAW."""

    algorithm = ECDSA_P256

    def __init__(self, key_id: str, client: Any):
        self.key_id = self.key_ref = key_id
        self._client = client
        self.public_key = kms_public_key(key_id, client, purpose="sign")
        self.key_fingerprint = fingerprint(self.public_key)

    def sign(self, message: bytes) -> bytes:
        response = _kms_call(
            self._client, "sign", self.key_id,
            KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=KMS_SIGNING_ALGORITHM,
        )
        return bytes(response["Signature"])


def _kms_call(client: Any, operation: str, key_id: str, **kwargs: Any) -> Any:
    from botocore import exceptions as bx

    try:
        return getattr(client, operation)(**kwargs)
    except bx.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        action = {"sign": "kms:Sign", "get_public_key": "kms:GetPublicKey"}.get(operation, operation)
        if code in ("AccessDeniedException", "AccessDenied"):
            advice = f"grant the pipeline's role {action} on {key_id} (key policy or IAM policy)"
        elif code == "NotFoundException":
            advice = "no such key: check the key id or ARN and the region (AWS_REGION)"
        elif code in ("DisabledException", "KMSInvalidStateException"):
            advice = "the key is disabled or pending deletion: enable it, or configure another key"
        elif code in ("InvalidKeyUsageException", "UnsupportedOperationException"):
            advice = "the key cannot sign: create an asymmetric SIGN_VERIFY key with key spec ECC_NIST_P256"
        else:
            advice = "check the key id, the region and the KMS endpoint"
        raise SigningError(f"KMS {action} on {key_id} failed ({code}): {advice}") from None
    except bx.BotoCoreError as exc:
        raise SigningError(
            f"KMS {operation} on {key_id} failed ({type(exc).__name__}): check the network, AWS_REGION and "
            "the AWS credentials"
        ) from None


def kms_public_key(key_id: str, client: Any, *, purpose: str) -> Any:
    """The KMS key's public key, after checking it is an ECC_NIST_P256 SIGN_VERIFY key."""
    response = _kms_call(client, "get_public_key", key_id, KeyId=key_id)
    spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
    usage = response.get("KeyUsage")
    if spec != "ECC_NIST_P256" or usage != "SIGN_VERIFY":
        raise SigningError(
            f"KMS key {key_id} is {spec} / {usage}; to {purpose} evidence use an asymmetric key with key spec "
            "ECC_NIST_P256 and key usage SIGN_VERIFY"
        )
    return serialization.load_der_public_key(bytes(response["PublicKey"]))


def default_kms_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "kms", config=Config(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    )


def load_signer(setting: str, kms_client: Any = None) -> Signer:
    """The signer named by an `EVIDENCE_SIGNING_KEY` value, after a test signature proves it works."""
    kind, _, ref = setting.strip().partition(":")
    if kind == "file" and ref:
        signer: Signer = FileSigner(ref)
    elif kind == "awskms" and ref:
        signer = KmsSigner(ref, kms_client or default_kms_client())
    else:
        raise SigningError(
            f"{SIGNING_KEY_VAR} must be file:PATH (an Ed25519 PEM key) or awskms:KEY_ID_OR_ARN; got a value "
            f"starting with {setting[:8]!r}"
        )
    # A key that cannot sign (KMS permissions, a disabled key) must fail the run before any evidence
    # is written, not at the end of the day.
    probe = statement("probe", 0, hashlib.sha256(b"").hexdigest())
    TrustedKey(signer.public_key, source=kind).check(probe, signer.sign(probe), signer.algorithm)
    return signer


@lru_cache(maxsize=8)
def cached_signer(setting: str) -> Signer:
    """One signer per process and setting: the key file is read (or KMS probed) once, not per step."""
    return load_signer(setting)


# --------------------------------------------------------------------------------------------------
# Trusted keys (verification)


class TrustedKey:
    """The public key an auditor trusts, from a PEM file or from KMS (`kms:GetPublicKey`)."""

    def __init__(self, public_key: Any, source: str):
        self.public_key = public_key
        self.algorithm = _algorithm_of(public_key)
        self.key_fingerprint = fingerprint(public_key)
        self.source = source

    @classmethod
    def from_pem_file(cls, path: str | os.PathLike[str]) -> TrustedKey:
        path = Path(path).expanduser()
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise SigningError(f"cannot read the public key {path}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm):
            raise SigningError(
                f"{path} is not a PEM public key (use the .pub file written by `aircall-pipeline keygen`, or "
                "the KMS key's public key)"
            ) from None
        return cls(key, source=str(path))

    @classmethod
    def from_kms(cls, key_id: str, client: Any = None) -> TrustedKey:
        return cls(kms_public_key(key_id, client or default_kms_client(), purpose="verify"), source=f"kms:{key_id}")

    def check(self, message: bytes, signature: bytes, algorithm: str) -> None:
        """Raise SigningError unless `signature` over `message` was made by this key."""
        if algorithm != self.algorithm:
            raise SigningError(f"signed with {algorithm}, but the trusted key is {self.algorithm}")
        try:
            if isinstance(self.public_key, ed25519.Ed25519PublicKey):
                self.public_key.verify(signature, message)
            else:
                self.public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise SigningError("the signature does not match the trusted key") from None

    def verify(self, sig: Signature) -> None:
        self.check(statement(sig.path, sig.bytes, sig.sha256), sig.signature, sig.algorithm)


# --------------------------------------------------------------------------------------------------
# The one check of a detached signature


SIG_VALID, SIG_MISSING, SIG_MALFORMED, SIG_MOVED, SIG_FOREIGN, SIG_INVALID = (
    "valid", "missing", "malformed", "moved", "foreign", "invalid")


@dataclass(frozen=True)
class SignatureCheck:
    """What a detached signature says about one file, checked against a trusted key."""

    state: str  # valid | missing | malformed | moved | foreign | invalid
    reason: str = ""
    key_fingerprint: str = ""  # whose key signed, as the signature file claims (never trusted for itself)

    @property
    def valid(self) -> bool:
        return self.state == SIG_VALID


def check_signature(path: str, data: bytes, signature_file: bytes | None, trusted: TrustedKey) -> SignatureCheck:
    """Whether `signature_file` is a valid signature by `trusted` over the file `data` stored at `path`.
    Used by the store before it chains to an earlier attempt and by `verify`; never raises."""
    if signature_file is None:
        return SignatureCheck(SIG_MISSING, "it has no signature file")
    try:
        signature = Signature.from_json(signature_file)
    except SigningError as exc:
        return SignatureCheck(SIG_MALFORMED, f"its signature file is malformed: {exc}")
    sha = hashlib.sha256(data).hexdigest()
    if signature.path != path or signature.sha256 != sha or signature.bytes != len(data):
        return SignatureCheck(
            SIG_MOVED, f"its signature covers {signature.path} (sha256 {signature.sha256[:16]}…), not this file "
            f"(sha256 {sha[:16]}…): the file was changed or the signature moved", signature.key_fingerprint)
    if signature.key_fingerprint != trusted.key_fingerprint:
        return SignatureCheck(SIG_FOREIGN, f"it is signed by another key ({signature.key_fingerprint}), not the "
                              f"trusted key ({trusted.key_fingerprint})", signature.key_fingerprint)
    try:
        trusted.verify(signature)
    except (SigningError, ValueError, TypeError) as exc:
        return SignatureCheck(SIG_INVALID, str(exc) or type(exc).__name__, signature.key_fingerprint)
    return SignatureCheck(SIG_VALID, "", signature.key_fingerprint)


# --------------------------------------------------------------------------------------------------
# keygen


def keygen(path: str | os.PathLike[str]) -> str:
    """Write a new Ed25519 key to `path` (mode 0600, never over an existing file) and its public key to
    `path.pub`; return the fingerprint."""
    path = Path(path).expanduser()
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pub_path = path.with_name(path.name + ".pub")
    for target in (path, pub_path):
        if target.exists():
            raise SigningError(f"{target} already exists: keygen never replaces a key; choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    pub_path.write_bytes(public)
    return fingerprint(key.public_key())
