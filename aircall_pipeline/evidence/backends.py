"""Where the evidence bytes live: a local folder (`LocalBackend`) or an S3 bucket (`S3Backend`).

Both offer the few operations the store needs (`Backend`): an exclusive create that never replaces
anything, whole and chunked reads, a seekable view for Parquet, a size probe and a listing. How
exclusive creation works on each, and why, is in the docstring of `store.py`. S3 failures become
`EvidenceStoreError`s whose messages say what to do; the S3 clients built here have bounded retries
and timeouts.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from aircall_pipeline.evidence.errors import EvidenceStoreError, NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.layout import safe_relpath
from aircall_pipeline.redaction import redact_url
from aircall_pipeline.timestamps import iso_utc

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024
# S3 objects up to this size are fetched in one GET; larger Parquet files are read with ranged GETs so
# that a column subset of a big call history only transfers the footer and the columns asked for.
WHOLE_OBJECT_LIMIT = 32 * 1024 * 1024

# Bounded retries and timeouts for the clients this module builds: a dead endpoint must fail in
# seconds. Dagster's RetryPolicy (or the next scheduled run) is the place for longer waits.
S3_MAX_ATTEMPTS = 3
S3_CONNECT_TIMEOUT = 5.0
S3_READ_TIMEOUT = 60.0


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


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"),
                       (stat.S_ISDIR, "directory")):
        if test(mode):
            return name
    return "special file"


class LocalBackend:
    def __init__(self, root: Path):
        self.root = root
        self.uri = str(root)
        self._real_root = os.path.realpath(root)

    def read(self, key: str, limit: int | None = None) -> tuple[ObjectInfo, Iterator[bytes]]:
        """The object's info and its bytes in chunks, from one open (a local file has no lock). With
        `limit`, at most limit + 1 bytes are read (a file may grow after its size was taken)."""
        fh = self.open_seekable(key)
        size = os.fstat(fh.fileno()).st_size
        if limit is not None and size > limit:
            fh.close()
            raise ObjectTooLarge(self.full_uri(key), limit)

        def chunks() -> Iterator[bytes]:
            left = None if limit is None else limit + 1
            with fh:
                while left is None or left > 0:
                    chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
                    if not chunk:
                        break
                    if left is not None:
                        left -= len(chunk)
                    yield chunk

        return ObjectInfo(size), chunks()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*safe_relpath(key).split("/"))

    def full_uri(self, key: str) -> str:
        return str(self._path(key))

    def put_if_absent(self, key: str, data: bytes | Blob) -> bool:
        blob = Blob.of(data)
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                return False
            tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
            with open(tmp, "xb") as fh:
                shutil.copyfileobj(blob.open(), fh, CHUNK)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # atomic and exclusive: fails if the name exists
            except FileExistsError:
                return False
            except OSError:
                # Hard links unsupported here (some network/FUSE filesystems): exclusive create.
                try:
                    with open(path, "xb") as fh:
                        shutil.copyfileobj(blob.open(), fh, CHUNK)
                        fh.flush()
                        os.fsync(fh.fileno())
                except FileExistsError:
                    return False
            finally:
                tmp.unlink(missing_ok=True)
            # A reminder to humans and tools that evidence is not edited in place.
            os.chmod(path, 0o444)
            return True
        except (NotADirectoryError, FileExistsError) as exc:
            raise EvidenceStoreError(
                f"cannot create {path}: a parent of it is a file, not a folder ({exc.strerror}); "
                "fix EVIDENCE_URI or move that file away",
                kind="access_denied",
                uri=str(path),
            ) from None
        except PermissionError:
            raise EvidenceStoreError(
                f"permission denied writing {path}: give the pipeline's user write access to "
                f"{self.root} (or fix EVIDENCE_URI)",
                kind="access_denied",
                uri=str(path),
            ) from None
        except OSError as exc:
            raise EvidenceStoreError(
                f"cannot write {path}: {exc.strerror or exc}", kind="storage", uri=str(path)
            ) from None

    def get(self, key: str, limit: int | None = None) -> bytes:
        data = b"".join(self.read(key, limit)[1])
        if limit is not None and len(data) > limit:
            raise ObjectTooLarge(self.full_uri(key), limit)
        return data

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        yield from self.read(key)[1]

    def stat(self, key: str) -> ObjectInfo:
        with self.open_seekable(key) as fh:
            return ObjectInfo(os.fstat(fh.fileno()).st_size)

    def open_seekable(self, key: str) -> BinaryIO:
        """The regular file at `key`, opened without following a symlink and without blocking on a
        FIFO; anything but a regular file is refused (NotRegularFile) before a byte is read."""
        path = self._path(key)
        try:
            if os.path.realpath(path.parent) != os.path.join(self._real_root, *key.split("/")[:-1]):
                raise NotRegularFile(str(path), "path through a symlinked folder")
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(str(path)) from None
        except PermissionError:
            raise EvidenceStoreError(
                f"permission denied reading {path}: give the pipeline's user read access",
                kind="access_denied",
                uri=str(path),
            ) from None
        except OSError as exc:
            if os.path.islink(path):
                raise NotRegularFile(str(path), "symlink") from None
            raise EvidenceStoreError(f"cannot read {path}: {exc.strerror or exc}", kind="storage",
                                     uri=str(path)) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise NotRegularFile(str(path), _kind_of(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def head(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return path.stat().st_size if path.is_file() else None
        except OSError:
            return None

    def list(self, prefix: str) -> list[str]:
        return [key for key, kind in self.entries(prefix)
                if kind == "file" and not any(part.startswith(".") for part in key.split("/"))]

    def entries(self, prefix: str) -> list[tuple[str, str]]:
        base = self._path(prefix)
        if base.is_file():
            raise EvidenceStoreError(
                f"{base} is a file where the evidence layout needs a folder; fix EVIDENCE_URI",
                kind="invalid_uri",
                uri=str(base),
            )
        if base.is_symlink() or not base.is_dir():
            return []
        out: list[tuple[str, str]] = []
        pending = [base]
        while pending:  # an explicit stack: no recursion, and symlinked folders are not entered
            folder = pending.pop()
            rel = folder.relative_to(self.root).as_posix()
            try:
                listing = list(os.scandir(folder))
            except OSError as exc:
                raise EvidenceStoreError(
                    f"cannot list {folder}: {exc.strerror or exc}; give the pipeline's user read access",
                    kind="access_denied", uri=str(folder)) from None
            for entry in listing:
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue  # gone since the listing (a writer's temporary file, published or removed)
                if stat.S_ISDIR(mode):
                    pending.append(Path(entry.path))
                else:
                    out.append((f"{rel}/{entry.name}", _kind_of(mode)))
        return sorted(out)


def _strip_userinfo(url: str | None) -> str:
    if not url:
        return "the AWS default endpoint"
    return redact_url(url, lower_host=True)


# IAM action for each S3 API call, for "access denied" advice.
_IAM_ACTION = {
    "put_object": "s3:PutObject",
    "get_object": "s3:GetObject",
    "head_object": "s3:GetObject",
    "list_objects_v2": "s3:ListBucket",
    "get_object_lock_configuration": "s3:GetBucketObjectLockConfiguration",
}


class S3Backend:
    def __init__(self, client: Any, bucket: str, prefix: str, retention: Retention | None = None):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.retention = retention
        self._conditional_put = True
        self._lock_checked = False

    def _check_object_lock(self) -> None:
        """With a retention configured, the bucket must have Object Lock: checked once, before the
        first write, so that a bucket without it fails at once instead of storing unlocked evidence."""
        from botocore import exceptions as bx

        if self.retention is None or self._lock_checked:
            return
        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)
            enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        except bx.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) != "ObjectLockConfigurationNotFoundError":
                raise self._error(exc, "get_object_lock_configuration", None) from exc
            enabled = False
        except bx.BotoCoreError as exc:
            raise self._error(exc, "get_object_lock_configuration", None) from exc
        if not enabled:
            raise EvidenceStoreError(
                f"bucket {self.bucket} has no S3 Object Lock, but EVIDENCE_RETENTION_DAYS="
                f"{self.retention.days} asks for locked evidence. Enable Object Lock on the bucket (it needs "
                "versioning; `aws s3api put-object-lock-configuration --bucket "
                f"{self.bucket} --object-lock-configuration ObjectLockEnabled=Enabled`), or unset "
                "EVIDENCE_RETENTION_DAYS",
                kind="object_lock",
                uri=self.uri,
            )
        self._lock_checked = True

    def _key(self, key: str) -> str:
        key = safe_relpath(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def full_uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def _error(self, exc: Exception, operation: str, key: str | None) -> EvidenceStoreError:
        """Translate a boto3/botocore failure into advice. Never includes credentials."""
        from botocore import exceptions as bx

        where = f"s3://{self.bucket}/{self._key(key)}" if key else f"s3://{self.bucket}/{self.prefix}"
        endpoint = _strip_userinfo(getattr(getattr(self.client, "meta", None), "endpoint_url", None))
        if isinstance(exc, bx.ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket":
                return EvidenceStoreError(
                    f"bucket {self.bucket} does not exist: create it or fix EVIDENCE_URI ({self.uri})",
                    kind="missing_bucket",
                    uri=self.uri,
                )
            if code in (
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "ExpiredToken",
                "InvalidToken",
                "TokenRefreshRequired",
                "InvalidClientTokenId",
            ):
                return EvidenceStoreError(
                    f"S3 rejected the AWS credentials ({code}) on {operation} {where}: check "
                    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (or the role/profile) "
                    f"for the endpoint {endpoint}",
                    kind="credentials",
                    uri=where,
                )
            if code in ("AccessDenied", "Forbidden", "403", "AllAccessDisabled") or status == 403:
                action = _IAM_ACTION.get(operation, f"s3:{operation}")
                if operation == "put_object" and self.retention is not None:
                    # Every upload carries its retention, which needs its own permission.
                    action = "s3:PutObject and s3:PutObjectRetention"
                return EvidenceStoreError(
                    f"access denied: {action} on {where} was refused. Grant the pipeline's IAM identity "
                    f"{action} on arn:aws:s3:::{self.bucket}"
                    + ("" if action == "s3:ListBucket" else f"/{self.prefix + '/' if self.prefix else ''}*")
                    + " (it needs s3:PutObject, s3:GetObject and s3:ListBucket), and check the bucket "
                    "policy and any KMS key policy",
                    kind="access_denied",
                    uri=where,
                )
            message = err.get("Message") or code or str(status)
            return EvidenceStoreError(
                f"S3 {operation} on {where} failed: {code} {message}", kind="storage", uri=where
            )
        if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
            return EvidenceStoreError(
                "no usable AWS credentials for S3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
                "AWS_PROFILE, or give the pod/instance a role)",
                kind="credentials",
                uri=self.uri,
            )
        if isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
            return EvidenceStoreError(
                f"cannot reach the S3 endpoint {endpoint} ({type(exc).__name__}) for {operation} {where}: "
                "check AWS_ENDPOINT_URL_S3 (unset it for AWS itself), the network, and that the S3 "
                "server is running",
                kind="endpoint_unreachable",
                uri=self.uri,
            )
        return EvidenceStoreError(
            f"S3 {operation} on {where} failed: {type(exc).__name__}", kind="storage", uri=where
        )

    def _call(self, operation: str, key: str | None, **kwargs: Any) -> Any:
        from botocore import exceptions as bx

        try:
            return getattr(self.client, operation)(**kwargs)
        except (bx.ClientError, bx.BotoCoreError) as exc:
            raise self._error(exc, operation, key) from exc

    def put_if_absent(self, key: str, data: bytes | Blob) -> bool:
        from botocore import exceptions as bx

        blob = Blob.of(data)
        self._check_object_lock()
        kwargs = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "ContentType": _content_type(key),
            "ContentLength": blob.size,
            "Metadata": {"sha256": blob.sha256},
        }
        if self.retention is not None:
            # Object Lock requires an integrity checksum on the upload; SHA-256 is the one we record.
            kwargs.update(
                ObjectLockMode=self.retention.mode.upper(),
                ObjectLockRetainUntilDate=self.retention.until(),
                ChecksumAlgorithm="SHA256",
            )
        if self._conditional_put:
            try:
                self.client.put_object(IfNoneMatch="*", Body=blob.open(), **kwargs)
                return True
            except bx.ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code == "PreconditionFailed" or status == 412:
                    return False
                if code == "ConditionalRequestConflict" or status == 409:
                    # Another writer is creating the same key right now; whoever finishes owns it.
                    return False
                if code == "NotImplemented" or status == 501:
                    log.warning(
                        "S3 endpoint %s does not support conditional writes (If-None-Match); "
                        "falling back to head-then-put, which two simultaneous writers could race",
                        _strip_userinfo(self.client.meta.endpoint_url),
                    )
                    self._conditional_put = False
                else:
                    raise self._error(exc, "put_object", key) from exc
            except bx.BotoCoreError as exc:
                raise self._error(exc, "put_object", key) from exc
        if self.head(key) is not None:
            return False
        self._call("put_object", key, Body=blob.open(), **kwargs)
        return True

    def _get_object(self, key: str, **extra: Any) -> Any:
        from botocore import exceptions as bx

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except bx.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissing(self.full_uri(key), delete_marker=self._delete_marker(key, exc)) from None
            raise self._error(exc, "get_object", key) from exc
        except bx.BotoCoreError as exc:
            raise self._error(exc, "get_object", key) from exc

    def _delete_marker(self, key: str, exc: Any) -> bool:
        """Whether a missing object is hidden by a delete marker (a versioned bucket keeps its bytes).
        AWS says so on the GET; some S3-compatible servers only on a HEAD, so ask that too."""
        from botocore import exceptions as bx

        def says(response: dict) -> bool:
            return response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-delete-marker") == "true"

        if says(exc.response):
            return True
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except bx.ClientError as head_exc:
            return says(head_exc.response)
        except bx.BotoCoreError:
            return False
        return False

    def get(self, key: str, limit: int | None = None) -> bytes:
        data = b"".join(self.read(key, limit)[1])
        if limit is not None and len(data) > limit:
            raise ObjectTooLarge(self.full_uri(key), limit)
        return data

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        yield from self.read(key)[1]

    def read(self, key: str, limit: int | None = None) -> tuple[ObjectInfo, Iterator[bytes]]:
        """One GET: the object's info, and its bytes in chunks (at most limit + 1 of them with `limit`)."""
        from botocore import exceptions as bx

        response = self._get_object(key)
        info = _object_info(response)
        if limit is not None and info.size > limit:
            response["Body"].close()
            raise ObjectTooLarge(self.full_uri(key), limit)

        def chunks() -> Iterator[bytes]:
            body = response["Body"]
            left = None if limit is None else limit + 1
            try:
                for chunk in body.iter_chunks(CHUNK):
                    if left is not None:
                        chunk = chunk[:left]
                        left -= len(chunk)
                    yield chunk
                    if left == 0:
                        break
            except bx.BotoCoreError as exc:
                raise self._error(exc, "get_object", key) from exc
            finally:
                body.close()

        return info, chunks()

    def open_seekable(self, key: str) -> BinaryIO:
        size = self.head(key)
        if size is None:
            raise ObjectMissing(self.full_uri(key))
        if size <= WHOLE_OBJECT_LIMIT:
            return io.BytesIO(self.get(key))
        return _S3RangeReader(self, key, size)  # type: ignore[return-value]

    def stat(self, key: str) -> ObjectInfo:
        response = self._head(key)
        if response is None:
            raise ObjectMissing(self.full_uri(key))
        return _object_info(response)

    def head(self, key: str) -> int | None:
        response = self._head(key)
        return None if response is None else int(response["ContentLength"])

    def _head(self, key: str) -> dict | None:
        from botocore import exceptions as bx

        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except bx.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, "head_object", key) from exc
        except bx.BotoCoreError as exc:
            raise self._error(exc, "head_object", key) from exc
        return response

    def list(self, prefix: str) -> list[str]:
        from botocore import exceptions as bx

        full = self._key(prefix) + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            ):
                keys.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        except (bx.ClientError, bx.BotoCoreError) as exc:
            raise self._error(exc, "list_objects_v2", prefix) from exc
        return sorted(keys)

    def entries(self, prefix: str) -> list[tuple[str, str]]:
        return [(key, "file") for key in self.list(prefix)]  # S3 holds objects and nothing else


def _object_info(response: dict) -> ObjectInfo:
    """Size, lock state and recorded hash from a GET or HEAD response."""
    until = response.get("ObjectLockRetainUntilDate")
    return ObjectInfo(
        size=int(response["ContentLength"]),
        lock_mode=response.get("ObjectLockMode"),
        retain_until=iso_utc(until) if until else None,
        recorded_sha256=(response.get("Metadata") or {}).get("sha256"),
        lockable=True,
    )


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


class _S3RangeReader(RangeFile):
    """One S3 object, fetching only the byte ranges asked for."""

    def __init__(self, backend: S3Backend, key: str, size: int):
        super().__init__(size)
        self._backend, self._key = backend, key

    def _range(self, start: int, end: int) -> bytes:
        body = self._backend._get_object(self._key, Range=f"bytes={start}-{end - 1}")["Body"]
        try:
            return body.read()
        finally:
            body.close()


def _content_type(key: str) -> str:
    return {
        "parquet": "application/vnd.apache.parquet",
        "csv": "text/csv; charset=utf-8",
        "json": "application/json",
        "html": "text/html; charset=utf-8",
    }.get(key.rsplit(".", 1)[-1], "application/octet-stream")


def default_s3_client() -> Any:
    """A boto3 S3 client from the standard AWS_* environment (AWS_ENDPOINT_URL_S3 included), with
    bounded retries and timeouts."""
    import boto3

    return boto3.session.Session().client("s3", config=bounded_s3_config())


def bounded_s3_config(max_attempts: int = S3_MAX_ATTEMPTS) -> Any:
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": max(1, min(max_attempts, S3_MAX_ATTEMPTS)), "mode": "standard"},
        connect_timeout=S3_CONNECT_TIMEOUT,
        read_timeout=S3_READ_TIMEOUT,
    )
