"""Write-once attempts: numbering them in a folder, writing one attempt's files without ever replacing
anything, and reading back the newest sealed attempt a reader (or the pipeline, before it chains to
one) may trust. The rules themselves are in the docstring of `store.py`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aircall_pipeline.evidence.backends import Backend, Blob
from aircall_pipeline.evidence.errors import EvidenceStoreError, NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.layout import REPORT_BASES, attempt_name, parse_attempt_name
from aircall_pipeline.evidence.manifest import Artifact
from aircall_pipeline.evidence.schemas import MAX_DOCUMENT_BYTES, DailyManifest, Malformed, parse
from aircall_pipeline.evidence.signature_check import check_stored_signature
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.evidence.stored import sha256_hex

MAX_ATTEMPT_RACES = 20


class Deferred:
    """File content obtained when first needed, once (a timestamp token: a request to a TSA)."""

    def __init__(self, make: Callable[[], bytes]):
        self._make, self._value = make, None

    def __call__(self) -> bytes:
        if self._value is None:
            self._value = self._make()
        return self._value


Content = bytes | Blob | Deferred
Build = Callable[[int], list[tuple[str, Content]]]


def _resolved(data: Content) -> bytes | Blob:
    return data() if isinstance(data, Deferred) else data


def attempt_key(folder: str, base: str, attempt: int) -> str:
    """`folder/users.attempt-2.parquet` for base `users.parquet`, attempt 2."""
    stem, ext = base.rsplit(".", 1)
    return f"{folder}/{attempt_name(stem, ext, attempt)}"


def attempts_in(backend: Backend, folder: str, bases: tuple[str, ...]) -> dict[int, set[str]]:
    """Attempt number -> the base names (e.g. "users.parquet") present for it in `folder`."""
    wanted = {tuple(b.rsplit(".", 1)) for b in bases}
    found: dict[int, set[str]] = {}
    for key in backend.list(folder):
        name = key[len(folder) + 1 :]
        if "/" in name:
            continue
        parsed = parse_attempt_name(name)
        if parsed and (parsed[0], parsed[2]) in wanted:
            found.setdefault(parsed[1], set()).add(f"{parsed[0]}.{parsed[2]}")
    return found


def newest_complete(attempts: dict[int, set[str]], required: tuple[str, ...]) -> int | None:
    complete = [n for n, names in attempts.items() if set(required) <= names]
    return max(complete) if complete else None


def _same_content(backend: Backend, key: str, data: bytes | Blob) -> bool:
    blob = Blob.of(data)
    if backend.head(key) != blob.size:
        return False
    digest = hashlib.sha256()
    for chunk in backend.iter_chunks(key):
        digest.update(chunk)
    return digest.hexdigest() == blob.sha256


def write_attempt(backend: Backend, folder: str, bases: tuple[str, ...], build: Build) -> tuple[int, bool]:
    """Write one attempt's files, in order, never replacing anything.

    `build(n)` returns [(base name, bytes)] for attempt n; content may be `Deferred` (obtained only
    when it is compared or written). Returns (attempt, wrote_anything).
    The newest existing attempt is reused when each of its files is byte-identical to ours (and
    its missing files, left by an interrupted run, are added); otherwise the next free number is
    taken. Losing a race for a name moves on to the next number.
    """
    attempts = attempts_in(backend, folder, bases)
    newest = max(attempts) if attempts else 0
    if newest:
        files = build(newest)
        present = attempts[newest]
        # all() stops at the first file that differs, so deferred content after it is never obtained.
        if all(
            _same_content(backend, attempt_key(folder, base, newest), _resolved(data))
            for base, data in files
            if base in present
        ):
            wrote = False
            clean = True
            for base, data in files:
                if base in present:
                    continue
                key = attempt_key(folder, base, newest)
                data = _resolved(data)
                if backend.put_if_absent(key, data):
                    wrote = True
                elif not _same_content(backend, key, data):
                    clean = False
                    break
            if clean:
                return newest, wrote
    for number in range(newest + 1, newest + 1 + MAX_ATTEMPT_RACES):
        # Deferred content (a timestamp token) is obtained before the attempt's first file is
        # written: a TSA that fails leaves nothing of the attempt behind.
        files = [(base, _resolved(data)) for base, data in build(number)]
        owned = True
        for base, data in files:
            key = attempt_key(folder, base, number)
            if not backend.put_if_absent(key, data) and not _same_content(backend, key, data):
                owned = False  # a concurrent writer took this attempt number
                break
        if owned:
            return number, True
    raise EvidenceStoreError(
        f"could not find a free attempt name in {backend.full_uri(folder)} after "
        f"{MAX_ATTEMPT_RACES} tries: too many writers for the same day at once",
        kind="conflict",
    )


# --------------------------------------------------------------------------------------------------
# Trust: which sealed attempts the pipeline (and every reader) accepts


@dataclass(frozen=True)
class Sealed:
    """One sealed attempt as read: its number, path, exact bytes and parsed content."""

    number: int
    path: str
    raw: bytes
    data: dict[str, Any]


@dataclass(frozen=True)
class PriorAttempt:
    link: dict[str, Any]
    artifacts: list[Artifact]
    rejected: list[dict[str, Any]]  # what it recorded as rejected when it was sealed


def read_document(backend: Backend) -> Callable[[str], bytes]:
    """How the store reads a small document (a manifest, a signature): capped, straight from storage."""
    return lambda key: backend.get(key, limit=MAX_DOCUMENT_BYTES)


def newest_trusted(
    backend: Backend, folder: str, bases: tuple[str, ...], model: type, trusted: TrustedKey | None,
    below: int | None = None,
) -> tuple[Sealed | None, list[dict[str, Any]]]:
    """The newest manifest attempt in `folder` (below attempt `below`, if given) that conforms to
    `model` and, when `trusted` is given, carries a valid signature by it; and every attempt above
    it that does not (path, sha256 and why), newest first. Storage errors propagate."""
    attempts = attempts_in(backend, folder, bases)
    numbers = sorted((n for n, names in attempts.items() if "manifest.json" in names
                      and (below is None or n < below)), reverse=True)
    rejected: list[dict[str, Any]] = []
    for number in numbers:
        path = attempt_key(folder, "manifest.json", number)
        try:
            raw = backend.get(path, limit=MAX_DOCUMENT_BYTES)
        except (NotRegularFile, ObjectTooLarge) as exc:
            rejected.append({"path": path, "sha256": None, "reason": str(exc)})
            continue
        except ObjectMissing:
            continue  # deleted between the listing and the read
        try:
            parse(model, raw)
        except Malformed as exc:
            rejected.append({"path": path, "sha256": sha256_hex(raw), "reason": f"malformed: {exc}"})
            continue
        if trusted is not None:
            check = check_stored_signature(read_document(backend), path, raw, trusted)
            if not check.valid:
                rejected.append({"path": path, "sha256": sha256_hex(raw),
                                 "reason": f"{check.state}: {check.reason}"})
                continue
        return Sealed(number, path, raw, json.loads(raw)), rejected
    return None, rejected


def prior_attempt(
    backend: Backend, folder: str, number: int, trusted: TrustedKey | None, bases: tuple[str, ...] = REPORT_BASES,
    model: type = DailyManifest,
) -> tuple[PriorAttempt | None, list[dict[str, Any]]]:
    """What attempt `number` chains to: the newest earlier attempt that verifies against our own key
    (or, unsigned, the newest well-formed one); and the attempts above it that do not."""
    sealed, rejected = newest_trusted(backend, folder, bases, model, trusted, below=number)
    if sealed is None:
        return None, rejected
    try:
        artifacts = [Artifact.from_dict(a) for a in sealed.data.get("artifacts", [])]
    except (ValueError, KeyError, TypeError):
        artifacts = []
    link = {"path": sealed.path, "sha256": sha256_hex(sealed.raw), "bytes": len(sealed.raw),
            "attempt": sealed.number}
    if trusted is not None:
        link["signature"] = "valid"
    return PriorAttempt(link, artifacts, list(sealed.data.get("rejected") or [])), rejected
