"""Where the evidence bytes live: a local folder (`LocalBackend`) or an S3 bucket (`S3Backend`).

Both offer the few operations the store needs (`Backend`, below): an exclusive create that never
replaces anything, whole and chunked reads, a seekable view for Parquet, a size probe and a listing.
How exclusive creation works on each, and why, is in the docstring of `store.py`.

Modules: `objects.py` (Blob, ObjectInfo, Retention, RangeFile: what backends deal in),
`local_backend.py`, `s3_backend.py`, `s3_errors.py` (S3 failures as advice) and `s3_client.py`
(the one place an S3 client is built, with bounded retries and timeouts). This module is the front:
the names the store and the tools import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from aircall_pipeline.evidence.local_backend import LocalBackend
from aircall_pipeline.evidence.objects import (
    CHUNK,
    RETENTION_MODES,
    WHOLE_OBJECT_LIMIT,
    Blob,
    ObjectInfo,
    RangeFile,
    Retention,
)
from aircall_pipeline.evidence.s3_backend import S3Backend
from aircall_pipeline.evidence.s3_client import (
    S3_CONNECT_TIMEOUT,
    S3_MAX_ATTEMPTS,
    S3_READ_TIMEOUT,
    bounded_s3_config,
    default_s3_client,
)
from aircall_pipeline.evidence.s3_errors import _IAM_ACTION

__all__ = [
    "CHUNK",
    "RETENTION_MODES",
    "S3_CONNECT_TIMEOUT",
    "S3_MAX_ATTEMPTS",
    "S3_READ_TIMEOUT",
    "WHOLE_OBJECT_LIMIT",
    "_IAM_ACTION",
    "Backend",
    "Blob",
    "LocalBackend",
    "ObjectInfo",
    "RangeFile",
    "Retention",
    "S3Backend",
    "bounded_s3_config",
    "default_s3_client",
]


class Backend(Protocol):
    """The few operations the store needs. Keys are `/`-separated and relative to the evidence root."""

    uri: str

    def put_if_absent(self, key: str, data: bytes | Blob) -> bool:
        """Create `key` with `data`; False (and nothing written) when it already exists."""

    def get(self, key: str, limit: int | None = None) -> bytes:
        """The object's bytes; ObjectTooLarge when it holds more than `limit` (only the cap is read)."""

    def iter_chunks(self, key: str) -> Iterator[bytes]: ...

    def read(self, key: str) -> tuple[ObjectInfo, Iterator[bytes]]:
        """The object's size and lock state, and its bytes in chunks, from one request."""

    def stat(self, key: str) -> ObjectInfo:
        """The object's info without its bytes; raises ObjectMissing."""

    def open_seekable(self, key: str) -> BinaryIO: ...

    def head(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""

    def list(self, prefix: str) -> list[str]:
        """Every regular, non-hidden object under `prefix` (a folder path without trailing slash), sorted:
        what the store itself reads and writes."""

    def entries(self, prefix: str) -> list[tuple[str, str]]:
        """Every name under `prefix` at any depth, hidden ones included, with what it is ("file", or
        "symlink", "fifo", "socket", "device", "directory" for what a local folder can also hold):
        what a verifier must account for. Nothing is opened."""

    def full_uri(self, key: str) -> str: ...
