"""How `verify` reads the evidence, trusting none of it: the store listed once, each object read at most
once and never beyond a cap, never an object that is not a regular file, and each day's manifest
attempts parsed against their schema with their signatures judged (by `signature_check`, as the store
judges them)."""

from __future__ import annotations

import bisect
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aircall_pipeline.evidence.errors import EvidenceStoreError, NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.layout import (
    REPORTS,
    REVIEWS,
    ROOT,
    date_of_key,
    day_entry,
    parse_attempt_name,
    reports_folder,
)
from aircall_pipeline.evidence.manifest import Artifact
from aircall_pipeline.evidence.schemas import (
    MAX_DOCUMENT_BYTES,
    DailyManifest,
    Malformed,
    ReviewManifest,
    parse,
)
from aircall_pipeline.evidence.signature_check import judge_signature, read_signature
from aircall_pipeline.evidence.signing import SignatureCheck, TrustedKey


@dataclass
class ManifestAttempt:
    """One manifest attempt as read: `data` is None when it is malformed (`why` says how)."""

    number: int
    path: str
    sha256: str = ""
    raw: bytes = b""
    data: Any = None  # DailyManifest | ReviewManifest
    why: str = ""
    signature: SignatureCheck | None = None  # None without a trusted key
    signature_present: bool = False

    @property
    def genuine(self) -> bool:
        return self.data is not None and (self.signature is None or self.signature.valid)


class BoundedReader:
    """Reads each object at most once per verification, several at a time (on S3 each GET is a round
    trip), never more than a cap, and never an object that is not a regular file."""

    PARALLEL = 8

    def __init__(self, store: Any, kinds: dict[str, str]):
        self.store = store
        self.kinds = kinds  # key -> "file", "fifo", "symlink", ... as listed
        self._documents: dict[str, bytes | Exception] = {}
        self._objects: dict[str, Any] = {}

    def document(self, path: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
        """A small document's bytes; raises ObjectMissing, NotRegularFile or ObjectTooLarge."""
        if path not in self._documents:
            kind = self.kinds.get(path)
            try:
                if kind is None:
                    raise ObjectMissing(self.store.full_uri(path))
                if kind != "file":
                    raise NotRegularFile(self.store.full_uri(path), kind)
                self._documents[path] = self.store.backend.get(path, limit=limit)
            except (ObjectMissing, NotRegularFile, ObjectTooLarge) as exc:
                self._documents[path] = exc
        result = self._documents[path]
        if isinstance(result, Exception):
            raise result
        return result

    def prefetch(self, claims: dict[str, list[tuple[Artifact, str]]]) -> None:
        todo = [p for p in sorted(claims) if p not in self._objects and self.kinds.get(p) == "file"]
        if len(todo) < 2:
            return
        with ThreadPoolExecutor(max_workers=self.PARALLEL) as pool:
            for path, result in zip(todo, pool.map(lambda p: self._try(p, claims[p]), todo), strict=True):
                if not isinstance(result, EvidenceStoreError) or isinstance(
                        result, ObjectMissing | NotRegularFile | ObjectTooLarge):
                    self._objects[path] = result

    def _try(self, path: str, claims: list[tuple[Artifact, str]]) -> Any:
        try:
            return self.store.stored_object(path, limit=max(c.bytes for c, _ in claims))
        except EvidenceStoreError as exc:
            return exc

    def stored(self, path: str, claims: list[tuple[Artifact, str]]) -> Any:
        """(Artifact, ObjectInfo) re-read from storage, or the ObjectMissing / NotRegularFile /
        ObjectTooLarge that says why it could not be."""
        if path not in self._objects:
            kind = self.kinds.get(path)
            if kind is not None and kind != "file":
                self._objects[path] = NotRegularFile(self.store.full_uri(path), kind)
            else:
                try:
                    self._objects[path] = self.store.stored_object(path, limit=max(c.bytes for c, _ in claims))
                except (ObjectMissing, NotRegularFile, ObjectTooLarge) as exc:
                    self._objects[path] = exc
        result = self._objects[path]
        if isinstance(result, EvidenceStoreError) and not isinstance(
                result, ObjectMissing | NotRegularFile | ObjectTooLarge):
            raise result
        return result


class EvidenceListing:
    """The store as listed once, with each folder's attempts read and judged on demand."""

    def __init__(self, store: Any, trusted: TrustedKey | None, now: datetime, tsa_roots: list[bytes] | None = None):
        self.store, self.trusted, self.now = store, trusted, now
        self.tsa_roots = tsa_roots  # trusted TSA root certificates (PEM), or None: chains not checked
        self.by_day: dict[str, list[tuple[str, str]]] = {}
        self.stray: list[str] = []
        kinds: dict[str, str] = {}
        for key, kind in store.backend.entries(ROOT):
            kinds[key] = kind
            day = date_of_key(key)
            if day is None:
                self.stray.append(key)
            else:
                self.by_day.setdefault(day, []).append((key, kind))
        self.days = sorted(self.by_day)
        self.reader = BoundedReader(store, kinds)
        self._attempts: dict[tuple[str, str], list[ManifestAttempt]] = {}

    def attempts(self, day: str, kind: str = REPORTS) -> list[ManifestAttempt]:
        """The day's manifest attempts in its report (or review) folder, oldest first, each read,
        parsed against its schema and, with a trusted key, its signature checked."""
        cache_key = (day, kind)
        if cache_key not in self._attempts:
            folder = REPORTS if kind == REPORTS else REVIEWS
            model = DailyManifest if kind == REPORTS else ReviewManifest
            found = []
            for key, _ in self.by_day.get(day, []):
                entry = day_entry(key, folder)
                parsed = parse_attempt_name(entry[1]) if entry and entry[0] == day else None
                if parsed and parsed[0] == "manifest" and parsed[2] == "json":
                    found.append(self._read_attempt(parsed[1], key, model))
            self._attempts[cache_key] = sorted(found, key=lambda a: a.number)
        return self._attempts[cache_key]

    def _read_attempt(self, number: int, path: str, model: type) -> ManifestAttempt:
        attempt = ManifestAttempt(number, path)
        try:
            attempt.raw = self.reader.document(path)
        except (ObjectMissing, NotRegularFile, ObjectTooLarge) as exc:
            attempt.why = str(exc)
            return attempt
        attempt.sha256 = hashlib.sha256(attempt.raw).hexdigest()
        try:
            attempt.data = parse(model, attempt.raw)
        except Malformed as exc:
            attempt.why = str(exc)
        signature = read_signature(self.reader.document, path)
        attempt.signature_present = isinstance(signature, bytes)
        if self.trusted is not None:
            attempt.signature = judge_signature(path, attempt.raw, signature, self.trusted)
        return attempt

    def genuine(self, day: str) -> list[ManifestAttempt]:
        return [a for a in self.attempts(day) if a.genuine]

    def sealed_neighbour(self, day: str, step: int) -> str | None:
        """The nearest earlier (step -1) or later (+1) day with a genuine manifest."""
        at = bisect.bisect_left(self.days, day) if step < 0 else bisect.bisect_right(self.days, day)
        for other in (reversed(self.days[:at]) if step < 0 else self.days[at:]):
            if any(key.startswith(reports_folder(other) + "/manifest") for key, _ in self.by_day[other]) \
                    and self.genuine(other):
                return other
        return None


