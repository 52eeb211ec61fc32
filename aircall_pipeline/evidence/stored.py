"""Re-reading one stored file: its SHA-256, size, row count and lock state, as a manifest records them
and as `verify` compares them. One GET, hashed as it streams; a big Parquet file is never held whole
(its row count comes from the footer in its last bytes)."""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from aircall_pipeline.evidence.backends import Backend, ObjectInfo, RangeFile
from aircall_pipeline.evidence.formats import count_csv_rows
from aircall_pipeline.evidence.manifest import Artifact

# The last bytes of a Parquet file kept while it is hashed: its footer (the row count) is in them
# unless the file has a very large schema or very many row groups, which are then read again.
PARQUET_TAIL = 1024 * 1024
_FOOTER_NOT_IN_TAIL: Any = object()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hashing(chunks: Iterator[bytes], into: Any, counter: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        into.update(chunk)
        counter[0] += len(chunk)
        yield chunk


def _last_bytes(chunks: Iterator[bytes], keep: int) -> bytes:
    tail = bytearray()
    for chunk in chunks:
        tail += chunk
        if len(tail) > keep:
            del tail[:-keep]
    return bytes(tail)


class _TailFile(RangeFile):
    """A file of `size` bytes of which only the last ones (`tail`) can be read."""

    def __init__(self, tail: bytes, size: int):
        super().__init__(size)
        self._tail, self._start = tail, size - len(tail)

    def _range(self, start: int, end: int) -> bytes:
        if start < self._start:
            raise OSError("outside the bytes kept")
        return self._tail[start - self._start:end - self._start]


def _parquet_rows(tail: bytes, size: int) -> Any:
    """The row count in a Parquet file's footer, read from its last bytes; _FOOTER_NOT_IN_TAIL when
    they do not hold all of it. Raises pa.ArrowInvalid or OSError for what is not Parquet."""
    if len(tail) < size and (len(tail) < 8 or int.from_bytes(tail[-8:-4], "little") + 8 > len(tail)):
        return _FOOTER_NOT_IN_TAIL
    return pq.ParquetFile(_TailFile(tail, size)).metadata.num_rows


def stored_object(backend: Backend, path: str, limit: int | None = None) -> tuple[Artifact, ObjectInfo]:
    """Re-read `path` from storage in one GET: its sha256, size and row count (Parquet footer, CSV
    records, number of checks in a checks JSON), and its lock state. Raises ObjectMissing, and
    ObjectTooLarge when it holds more than `limit` bytes (a verifier passes the declared size)."""
    digest, counter = hashlib.sha256(), [0]
    ext = path.rsplit(".", 1)[-1]
    info, raw = backend.read(path, limit)
    chunks = _hashing(raw, digest, counter)
    rows: int | None = None
    tail = b""
    if ext == "parquet":
        tail = _last_bytes(chunks, PARQUET_TAIL)  # the footer, without holding the whole file
    elif ext == "csv":
        rows = count_csv_rows(chunks)
    elif ext == "jsonl":
        rows = sum(chunk.count(b"\n") for chunk in chunks)  # one record per line (records.jsonl)
    elif ext == "json" and posixpath.basename(path).startswith("checks."):
        try:
            parsed = json.loads(b"".join(chunks))
            rows = len(parsed) if isinstance(parsed, list) else None
        except ValueError:
            rows = None
    for _ in chunks:  # drain whatever a row counter left unread
        pass
    if ext == "parquet":
        try:
            rows = _parquet_rows(tail, counter[0])
            if rows is _FOOTER_NOT_IN_TAIL:
                with backend.open_seekable(path) as fh:
                    rows = pq.ParquetFile(fh).metadata.num_rows
        except (pa.ArrowInvalid, OSError):
            rows = None  # not a readable Parquet file: the hash already tells the story
    return Artifact(path, digest.hexdigest(), counter[0], rows), info


def stored_artifact(backend: Backend, path: str) -> Artifact:
    return stored_object(backend, path)[0]
