"""The one check of a stored document's detached signature (`<name>.sig` beside `<name>.json`).

The store (choosing which sealed attempt to trust or chain to, and which access review counts) and the
verifier (judging every attempt and attestation) must reach the same verdict on the same bytes, or a
forgery the verifier flags could still be chained to by the pipeline, or the reverse. So both read the
signature file and judge it here; `signing.check_signature` does the cryptography.

Reading is handed in (`read`): the store reads straight from its backend, the verifier through its
bounded, read-once reader. Either raises ObjectMissing, NotRegularFile or ObjectTooLarge.
"""

from __future__ import annotations

from collections.abc import Callable

from aircall_pipeline.evidence.errors import NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.layout import signature_path
from aircall_pipeline.evidence.signing import SIG_MALFORMED, SignatureCheck, TrustedKey, check_signature

Read = Callable[[str], bytes]
# What a signature name holds: its bytes, None (no signature), or a MALFORMED verdict already (the name
# holds something no signature file can be: not a regular file, or too big to be one).
StoredSignature = bytes | SignatureCheck | None


def read_signature(read: Read, path: str) -> StoredSignature:
    """The detached signature of the document at `path`, as `StoredSignature` says."""
    try:
        return read(signature_path(path))
    except ObjectMissing:
        return None
    except (NotRegularFile, ObjectTooLarge) as exc:
        return SignatureCheck(SIG_MALFORMED, str(exc))


def judge_signature(path: str, raw: bytes, signature: StoredSignature, trusted: TrustedKey) -> SignatureCheck:
    """The verdict on `raw` (the document's bytes at `path`) given what `read_signature` found."""
    if isinstance(signature, SignatureCheck):
        return signature
    return check_signature(path, raw, signature, trusted)


def check_stored_signature(read: Read, path: str, raw: bytes, trusted: TrustedKey) -> SignatureCheck:
    """Read the signature of the document at `path` and judge `raw` against `trusted`."""
    return judge_signature(path, raw, read_signature(read, path), trusted)
