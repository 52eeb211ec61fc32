"""The evidence store's exceptions, in a module of their own so that the layout checks, the backends,
the serialisers and the store can all raise them without importing each other. `EvidenceStoreError`
is re-exported by `store.py`, where callers import it from.
"""

from __future__ import annotations


class EvidenceStoreError(RuntimeError):
    """Storage is unusable or the evidence is incomplete; the message says what to do.

    `kind` is one of: invalid_uri, missing_bucket, access_denied, credentials, endpoint_unreachable,
    incomplete, conflict, invalid_input, storage, object_lock, not_judged, not_regular, too_large, timestamp
    (no TSA gave a token while sealing). Messages never contain credentials.
    """

    # Faults that time may heal (an endpoint restarting, a transient storage error); the others
    # (missing bucket, denied access, bad URI or input) give the same answer on every retry.
    TRANSIENT_KINDS = frozenset({"endpoint_unreachable", "storage", "conflict"})

    def __init__(self, message: str, *, kind: str = "storage", uri: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.uri = uri

    @property
    def retryable(self) -> bool:
        return self.kind in self.TRANSIENT_KINDS


class ObjectMissing(EvidenceStoreError):
    """The object does not exist; `delete_marker` when S3 says a delete marker hides it (versioned
    buckets keep the deleted bytes as an older version)."""

    def __init__(self, uri: str, *, delete_marker: bool = False):
        what = "was deleted (a delete marker hides it)" if delete_marker else "does not exist"
        super().__init__(f"{uri} {what}", kind="incomplete", uri=uri)
        self.delete_marker = delete_marker


class NotRegularFile(EvidenceStoreError):
    """A name in the evidence that is a FIFO, a device, a socket, a directory or a symlink: never opened
    (a FIFO would block the reader, a link to /dev/zero would never end)."""

    def __init__(self, uri: str, what: str):
        super().__init__(f"{uri} is a {what}, not a regular file: it was not opened", kind="not_regular", uri=uri)
        self.what = what


class ObjectTooLarge(EvidenceStoreError):
    """An object larger than its reader accepts: a manifest above the cap, or a file larger than the
    size its manifest declares. Only the cap (plus one byte) was read."""

    def __init__(self, uri: str, limit: int):
        super().__init__(f"{uri} is larger than {limit:,} bytes: only that much was read", kind="too_large", uri=uri)
        self.limit = limit
