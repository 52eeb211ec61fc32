"""What every evidence backend deals in: content to store (`Blob`), what storage says about an
object (`ObjectInfo`), the Object Lock retention written on it (`Retention`), and a seekable file
read by byte ranges (`RangeFile`, for Parquet footers)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from aircall_pipeline.evidence.errors import EvidenceStoreError, ObjectTooLarge

CHUNK = 8 * 1024 * 1024
# S3 objects up to this size are fetched in one GET; larger Parquet files are read with ranged GETs so
# that a column subset of a big call history only transfers the footer and the columns asked for.
WHOLE_OBJECT_LIMIT = 32 * 1024 * 1024


class Blob:
    """Content to store: small bytes, or a spooled temporary file for big CSVs, with its sha256 and
    size computed once while it was produced."""

    def __init__(self, *, data: bytes | None = None, file: BinaryIO | None = None, sha256: str, size: int):
        self._data, self._file, self.sha256, self.size = data, file, sha256, size

    @classmethod
    def of(cls, data: bytes | Blob) -> Blob:
        if isinstance(data, Blob):
            return data
        return cls(data=data, sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    def open(self) -> BinaryIO:
        """A readable file positioned at the start (the same object each time for spooled content)."""
        if self._file is None:
            return io.BytesIO(self._data or b"")
        self._file.seek(0)
        return self._file

    def bytes(self) -> bytes:
        return self._data if self._file is None else self.open().read()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass(frozen=True)
class Retention:
    """S3 Object Lock retention written on every object: `mode` is compliance (nobody, not even the
    root user, can shorten it) or governance (users with s3:BypassGovernanceRetention can)."""

    days: int
    mode: str = "compliance"

    def __post_init__(self) -> None:
        if self.mode not in RETENTION_MODES:
            raise EvidenceStoreError(
                f"EVIDENCE_RETENTION_MODE={self.mode!r}: use one of {', '.join(RETENTION_MODES)}",
                kind="invalid_input",
            )
        if self.days < 1:
            raise EvidenceStoreError("EVIDENCE_RETENTION_DAYS must be at least 1", kind="invalid_input")

    def until(self) -> datetime:
        return datetime.now(UTC) + timedelta(days=self.days)


RETENTION_MODES = ("compliance", "governance")


@dataclass(frozen=True)
class ObjectInfo:
    """What storage says about one object besides its bytes: its size and its Object Lock state."""

    size: int
    lock_mode: str | None = None
    retain_until: str | None = None  # ISO-8601 UTC
    recorded_sha256: str | None = None  # the SHA-256 the writer recorded in the object's metadata (S3)
    lockable: bool = False  # S3 can lock objects; a local folder cannot

    def lock_summary(self) -> str:
        if self.lock_mode:
            return f"{self.lock_mode.lower()} lock until {self.retain_until}"
        if self.lockable:
            # S3 leaves the lock headers out both for an unlocked object and for a caller without
            # s3:GetObjectRetention, so "unlocked" cannot be told from "not allowed to see".
            return "no Object Lock reported (seeing it needs s3:GetObjectRetention)"
        return "local file (no Object Lock)"


class RangeFile(io.RawIOBase):
    """A seekable, read-only file of `size` bytes whose bytes come from `_range(start, end)`: what
    pyarrow needs to read a Parquet footer without the whole file (an S3 object, a kept tail)."""

    def __init__(self, size: int):
        self._size, self._pos = size, 0

    def _range(self, start: int, end: int) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        end = min(self._pos + len(view), self._size)
        if end <= self._pos:
            return 0
        data = self._range(self._pos, end)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


class ReadsWhole:
    """What every backend derives from its streamed `read(key, limit) -> (info, chunks)`: the whole
    object (refused past `limit`), or its chunks. One definition, so both backends refuse alike."""

    def get(self, key: str, limit: int | None = None) -> bytes:
        data = b"".join(self.read(key, limit)[1])  # type: ignore[attr-defined]
        if limit is not None and len(data) > limit:
            raise ObjectTooLarge(self.full_uri(key), limit)  # type: ignore[attr-defined]
        return data

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        yield from self.read(key)[1]  # type: ignore[attr-defined]
