"""Proof of time: RFC 3161 timestamp tokens over the signed statements of manifests.

A signature says who sealed a manifest, not when: the signer could sign a back-dated manifest at
any later time. With `EVIDENCE_TSA_URL` set, the statement a manifest's signature covers
(`signing.statement`) is also sent, as its SHA-256, to a time-stamping authority, whose signed
answer proves the statement existed at the TSA's time. `verify` compares that time with the
manifest's `sealed_at`, within `TIME_SLACK`.

The token is stored beside the manifest (`manifest.tsr`, `manifest.attempt-2.tsr`, ...) as the whole
DER TimeStampResp the TSA answered, not only the TimeStampToken inside it: that is the form
`openssl ts -verify -in` and `openssl ts -reply -in -text` read by default, so an auditor's
`scripts/check-signature.sh` checks it with OpenSSL alone, and nothing is re-encoded on the way.

`check_token` works offline: the imprint must be SHA-256 of the statement, the signature must verify
under the token's own TSA certificate (evidence/cms.py), and with trusted roots (`EVIDENCE_TSA_CA`)
rfc3161-client's verifier also checks the chain. Every malformed input raises `TimestampError`,
whose message says what is wrong; nothing else escapes. No Dagster and no environment here.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

import aircall_pipeline.evidence.cms as cms
from aircall_pipeline.aircall.api_url import is_loopback_host
from aircall_pipeline.evidence.variables import TSA_CA_VAR, TSA_URL_VAR
from aircall_pipeline.redaction import shown_url

TOKEN_SUFFIX = ".tsr"  # noqa: S105 - a file extension (timestamp token), not a secret
# Real tokens are a few KiB (a certificate chain at most); anything far larger is not a token.
MAX_TOKEN_BYTES = 1024 * 1024
# The token is requested right after `sealed_at` is chosen; the slack covers the upload between
# the two, a slow TSA, and ordinary clock error on either side.
TIME_SLACK = timedelta(minutes=5)
GRANTED = 0
TST_INFO = "1.2.840.113549.1.9.16.1.4"
SHA256_OID = "2.16.840.1.101.3.4.2.1"
QUERY_TYPE, REPLY_TYPE = "application/timestamp-query", "application/timestamp-reply"
NOT_ATTESTED = f"time not attested: no timestamp token (set {TSA_URL_VAR} to stamp each manifest)"


class TimestampError(RuntimeError):
    """A token cannot be obtained or is not a valid token for this statement; the message says why."""


@dataclass(frozen=True)
class TokenCheck:
    """What a token proves: `message` existed at `gen_time`, attested by `tsa`. `trusted`: the TSA's
    certificate chains to one of the given roots; otherwise only the signature against the token's
    own certificate was checked, and `detail` says so."""

    gen_time: datetime  # UTC
    tsa: str  # the signing certificate's subject, RFC 4514
    trusted: bool
    detail: str
    serial_number: int
    nonce: int | None


def token_path(manifest_path: str) -> str:
    """`.../manifest.json` -> `.../manifest.tsr`, `.../manifest.attempt-2.json` -> `.../manifest.attempt-2.tsr`."""
    if not manifest_path.endswith(".json"):
        raise TimestampError(f"{manifest_path!r} is not a manifest path (it must end in .json)")
    return manifest_path[: -len(".json")] + TOKEN_SUFFIX


# --------------------------------------------------------------------------------------------------
# Obtaining a token


def stamp(message: bytes, urls: Sequence[str], *, timeout: float = 10.0,
          session: requests.Session | None = None) -> bytes:
    """The DER TimeStampResp of the first TSA in `urls` that grants a valid token over SHA-256 of
    `message` with our nonce. `timeout` bounds each TSA's connection and whole answer. Without a
    `session`, one is made per TSA, and for a loopback TSA it ignores proxy variables."""
    if not urls:
        raise TimestampError(f"no time-stamping authority: set {TSA_URL_VAR} to one or more RFC 3161 URLs")
    if not message:
        raise TimestampError("nothing to time-stamp: the statement is empty")
    request = (TimestampRequestBuilder().data(message).hash_algorithm(HashAlgorithm.SHA256)
               .nonce(nonce=True).cert_request(cert_request=True).build())
    failures = []
    for url in urls:
        try:
            answer = _post(url, request.as_bytes(), timeout, session)
            check = check_token(answer, message)
            if check.nonce != request.nonce:
                raise TimestampError("the answer's nonce is not our request's (a replayed or misrouted answer)")
            return answer
        except TimestampError as exc:
            failures.append(f"{_shown(url)}: {exc}")
    raise TimestampError(
        f"no time-stamping authority gave a valid token ({'; '.join(failures)}). Check {TSA_URL_VAR} and "
        "the network to the TSA, or add another TSA to the list."
    )


def timestamper(urls: Sequence[str], *, timeout: float = 10.0) -> Callable[[bytes], bytes]:
    """What the store calls with a manifest's signed statement when sealing (`write_report`,
    `write_review`): `stamp` over `urls`. Its TimestampError names each TSA without credentials."""
    urls = list(urls)
    if not urls:
        raise TimestampError(f"no time-stamping authority: set {TSA_URL_VAR} to one or more RFC 3161 URLs")

    def _stamp(message: bytes) -> bytes:
        return stamp(message, urls, timeout=timeout)

    return _stamp


def _shown(url: str) -> str:
    try:
        return shown_url(url)
    except ValueError:
        return "(not a URL)"


def _post(url: str, query: bytes, timeout: float, session: requests.Session | None) -> bytes:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise TimestampError("not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise TimestampError("not an http(s) URL")
    own = session is None
    if session is None:
        session = requests.Session()
        # A proxy from the environment would carry a loopback TSA's traffic elsewhere, or nowhere.
        session.trust_env = not is_loopback_host(host)
    deadline = time.monotonic() + timeout
    try:
        # No redirects: a TSA answers where it is asked, and a redirect could leave https.
        with session.post(url, data=query, headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
                          timeout=(timeout, timeout), stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                raise TimestampError(f"HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_TOKEN_BYTES:
                    raise TimestampError(f"the answer is larger than {MAX_TOKEN_BYTES} bytes; not a token")
                if time.monotonic() > deadline:
                    raise TimestampError(f"no complete answer within {timeout:g}s")
            return bytes(body)
    except requests.Timeout:
        raise TimestampError(f"no answer within {timeout:g}s") from None
    except requests.RequestException as exc:
        # Not str(exc): requests repeats the URL, which may carry a query the settings never show.
        raise TimestampError(f"cannot reach the TSA ({_reason(exc)})") from None
    finally:
        if own:
            session.close()


def _reason(exc: BaseException) -> str:
    """The operating system's reason under a requests error (connection refused, name unknown...)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        inner = getattr(seen, "reason", None)
        if not isinstance(inner, BaseException):
            inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = inner or seen.__cause__ or seen.__context__
    return type(exc).__name__


# --------------------------------------------------------------------------------------------------
# Checking a token


def check_token(data: bytes, message: bytes, *, trusted_roots: Sequence[bytes] | None = None) -> TokenCheck:
    """Check that `data` (a stored TimeStampResp) is a granted token over SHA-256 of `message`, signed
    by its TSA certificate; `trusted` when that certificate chains to one of `trusted_roots` (PEM or
    DER certificates). Raises TimestampError for anything else."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TimestampError(f"a timestamp token is bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data or len(data) > MAX_TOKEN_BYTES:
        raise TimestampError(f"{len(data)} bytes is not the size of a timestamp token (at most {MAX_TOKEN_BYTES})")
    roots = _certificates(trusted_roots or ())
    with _malformed():
        status, token = cms.status_and_token(data)
        if status != GRANTED or token is None:
            raise TimestampError(f"the TSA did not grant this timestamp (PKIStatus {status}): it proves no time")
        signed = cms.verify_signed_data(token)
        if signed.content_type != TST_INFO:
            raise TimestampError("the token signs something other than a TSTInfo: not a timestamp token")
        response = decode_timestamp_response(data)
        info = response.tst_info
        # Both readers must see the same TSTInfo, so the fields read below are the ones the signature covers.
        if info.as_bytes() != signed.content:
            raise TimestampError("the token's TSTInfo is not the signed content")
        imprint = info.message_imprint
        if imprint.hash_algorithm.dotted_string != SHA256_OID:
            raise TimestampError(f"the token hashes with {imprint.hash_algorithm.dotted_string}, not SHA-256")
        if imprint.message != hashlib.sha256(message).digest():
            raise TimestampError("the token is for another statement: its imprint is not SHA-256 of this one")
        _check_purpose(signed.signer)
        gen_time = info.gen_time
        gen_time = gen_time.replace(tzinfo=UTC) if gen_time.tzinfo is None else gen_time.astimezone(UTC)
        tsa = signed.signer.subject.rfc4514_string()
        trusted, detail = _trust(response, message, roots, tsa)
        return TokenCheck(gen_time=gen_time, tsa=tsa, trusted=trusted, detail=detail,
                          serial_number=int(info.serial_number), nonce=info.nonce)


@contextmanager
def _malformed() -> Iterator[None]:
    """Whatever a malformed token makes the parsers raise becomes a TimestampError. rfc3161-client's
    Rust core has unwrap()s on parsed data: a panic there surfaces as PyO3's PanicException, which
    derives from BaseException, so `except Exception` alone would let it through."""
    try:
        yield
    except TimestampError:
        raise
    except Exception as exc:
        raise TimestampError(f"not a readable timestamp token ({_brief(exc)})") from None
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise TimestampError("not a readable timestamp token (its content cannot be parsed)") from None


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}" if not isinstance(exc, cms.CmsError) else str(exc)


def _check_purpose(cert: x509.Certificate) -> None:
    # RFC 3161 section 2.3: a TSA's certificate has the one, critical, purpose id-kp-timeStamping.
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or not eku.critical or x509.ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
        raise TimestampError("the token's signer is not a time-stamping certificate (critical EKU timeStamping)")


def _trust(response, message: bytes, roots: list[x509.Certificate], tsa: str) -> tuple[bool, str]:
    if not roots:
        return False, (f"signature valid under the token's own certificate ({tsa}); no trusted TSA root was "
                       f"given ({TSA_CA_VAR}), so who signed it is not established")
    try:
        VerifierBuilder(roots=list(roots)).build().verify_message(response, message)
    except (VerificationError, ValueError) as exc:
        found = re.search(r"Verify error: ([^\"]+)", str(exc))
        reason = found[1] if found else str(exc)[:200]
        return False, f"signature valid, but {tsa} does not chain to a trusted TSA root ({reason})"
    return True, f"signed by {tsa}, which chains to a trusted TSA root"


def _certificates(blobs: Sequence[bytes]) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for blob in blobs:
        try:
            if b"-----BEGIN" in blob:
                certs += x509.load_pem_x509_certificates(blob)
            else:
                certs.append(x509.load_der_x509_certificate(blob))
        except (ValueError, TypeError):
            raise TimestampError(
                f"a trusted TSA root is not a PEM or DER certificate: give {TSA_CA_VAR} the PEM file of "
                "the TSA's root CA certificate(s)"
            ) from None
    return certs


def read_trusted_roots(path: str | Path) -> list[bytes]:
    """The contents of a PEM file of TSA roots (`EVIDENCE_TSA_CA`), checked to hold certificates."""
    path = Path(path).expanduser()
    try:
        if not path.is_file():
            raise TimestampError(f"{TSA_CA_VAR}: {path} is not a file; give the PEM file of the TSA's root CA")
        with path.open("rb") as fh:
            pem = fh.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise TimestampError(f"{TSA_CA_VAR}: cannot read {path} ({exc.strerror})") from None
    if len(pem) > MAX_TOKEN_BYTES:
        raise TimestampError(f"{TSA_CA_VAR}: {path} is larger than {MAX_TOKEN_BYTES} bytes; not a PEM of roots")
    _certificates([pem])
    return [pem]


# --------------------------------------------------------------------------------------------------
# Comparing with the manifest's time


def sealed_at_within(sealed_at: datetime, check: TokenCheck, slack: timedelta = TIME_SLACK) -> str | None:
    """A problem sentence when the manifest's `sealed_at` and the TSA's time differ by more than
    `slack` in either direction; None when they agree. The token is requested right after sealed_at
    is chosen, so the TSA's time should equal sealed_at give or take the slack."""
    if sealed_at.tzinfo is None:
        raise TimestampError("sealed_at has no time zone; it cannot be compared with the TSA's time")
    gap = check.gen_time - sealed_at
    tsa_time = check.gen_time.isoformat()
    if gap > slack:
        return (f"sealed_at {sealed_at.isoformat()} is {_duration(gap)} before the TSA's time {tsa_time} "
                f"(slack {_duration(slack)}): the statement is only proven to exist later than the manifest says")
    if -gap > slack:
        return (f"sealed_at {sealed_at.isoformat()} is {_duration(-gap)} after the TSA's time {tsa_time} "
                f"(slack {_duration(slack)}): the manifest claims a sealing time later than its proof of time")
    return None


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"
