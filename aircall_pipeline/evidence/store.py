"""The write-once evidence store: a local folder or `s3://bucket/prefix`.

Layout (public, relied on by auditors and by `aircall-pipeline verify`)::

    <root>/aircall/<table>/date=<YYYY-MM-DD>/<table>.parquet  and  <table>.csv
    <root>/aircall/reports/date=<YYYY-MM-DD>/checks.json, report.html, manifest.json

Write-once and attempts
-----------------------
Nothing is ever overwritten or deleted. The first write of a table for a date is attempt 1 and uses
the plain names (`users.parquet`, `users.csv`). A rerun for the same date:

* is a no-op when its Parquet and CSV are byte-identical to the newest attempt (the existing
  artifacts are returned; this also completes an attempt a crash left without its CSV);
* otherwise writes attempt n+1 next to the earlier ones: `users.attempt-2.parquet`,
  `users.attempt-2.csv`, then `users.attempt-3.*`, ... The earlier files stay byte-for-byte as they
  were, so whatever an auditor already sampled remains available.

An attempt is complete when both its Parquet and its CSV exist (the CSV is written second);
`read_table` and the manifest use the newest complete attempt. Reports follow the same rule with one
attempt number for the three files (`checks.attempt-2.json`, `report.attempt-2.html`,
`manifest.attempt-2.json`), the manifest written last; the newest manifest is the day's evidence.

Exclusive creation: locally a file is written under a hidden temporary name and published with
`os.link`, which fails if the name exists (so a crash never leaves a half-written file under an
evidence name); where hard links are unsupported it falls back to `open(path, "xb")`. On S3 the
store uses a conditional put (`If-None-Match: *`, supported by AWS S3 since 2024-08 and by moto 5.2.5);
an endpoint that answers 501 NotImplemented to it gets head-then-put instead, with a warning, because
that leaves a small race window between two writers.

Determinism: Parquet is written by pyarrow without the pandas index, in the frame's column order,
with zstd compression and no timestamps in its metadata, so identical frames give identical bytes
(with the same pyarrow/pandas versions: both name themselves in the file's metadata).
Rows are stored in the order given: callers that want byte-identical reruns sort their frames.
CSV is UTF-8, comma-separated, quoted only where needed, with timestamps as ISO-8601 UTC
(`2026-01-02T03:04:05Z`, or with six fractional digits when a column has sub-second values) and
integers written exactly (int64 ids above 2**53 survive). Naive timestamps are taken to be UTC.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import posixpath
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date as date_cls
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from aircall_pipeline import __version__
from aircall_pipeline.evidence.manifest import (
    FILE_ALTERED,
    FILE_MISSING,
    FILE_OK,
    Artifact,
    FileCheck,
    Manifest,
    Verification,
    build_manifest_data,
    iso_utc,
    json_bytes,
    normalise_check,
)
from aircall_pipeline.evidence.report import render_report

__all__ = [
    "Artifact",
    "EvidenceStore",
    "EvidenceStoreError",
    "LocalBackend",
    "S3Backend",
    "attempt_name",
    "default_s3_client",
]

log = logging.getLogger(__name__)

ROOT = "aircall"
REPORTS = "reports"
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DATE_FOLDER = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
ATTEMPT_FILE = re.compile(r"^(?P<stem>[a-z][a-z0-9_]*)(?:\.attempt-(?P<n>[1-9][0-9]*))?\.(?P<ext>[a-z]+)$")
CHUNK = 8 * 1024 * 1024
# S3 objects up to this size are fetched in one GET; larger Parquet files are read with ranged GETs so
# that a column subset of a big call history only transfers the footer and the columns asked for.
WHOLE_OBJECT_LIMIT = 32 * 1024 * 1024
MAX_ATTEMPT_RACES = 20

# Bounded retries and timeouts for the clients this module builds: a dead endpoint must fail in
# seconds. Dagster's RetryPolicy (or the next scheduled run) is the place for longer waits.
S3_MAX_ATTEMPTS = 3
S3_CONNECT_TIMEOUT = 5.0
S3_READ_TIMEOUT = 60.0


class EvidenceStoreError(RuntimeError):
    """Storage is unusable or the evidence is incomplete; the message says what to do.

    `kind` is one of: invalid_uri, missing_bucket, access_denied, credentials, endpoint_unreachable,
    incomplete, conflict, invalid_input, storage. Messages never contain credentials.
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


# --------------------------------------------------------------------------------------------------
# Names


def attempt_name(stem: str, ext: str, attempt: int) -> str:
    """`users.parquet` for attempt 1, `users.attempt-2.parquet` for attempt 2, and so on."""
    if attempt < 1:
        raise ValueError("attempts start at 1")
    return f"{stem}.{ext}" if attempt == 1 else f"{stem}.attempt-{attempt}.{ext}"


def parse_attempt_name(name: str) -> tuple[str, int, str] | None:
    match = ATTEMPT_FILE.match(name)
    if not match:
        return None
    return match["stem"], int(match["n"] or 1), match["ext"]


def check_date(value: Any) -> str:
    """Evidence dates are `YYYY-MM-DD` strings (Dagster daily partition keys); dates are accepted too."""
    if isinstance(value, date_cls):
        return value.isoformat()
    text = str(value)
    try:
        if len(text) == 10 and date_cls.fromisoformat(text).isoformat() == text:
            return text
    except ValueError:
        pass
    raise EvidenceStoreError(
        f"evidence date {text!r} is not a YYYY-MM-DD day; evidence is filed per day "
        "(use a daily partition key such as 2026-01-31)",
        kind="invalid_input",
    )


def check_table(name: str) -> str:
    if not isinstance(name, str) or not TABLE_NAME.match(name) or name == REPORTS:
        raise EvidenceStoreError(
            f"table name {name!r} is not usable in the evidence layout: use lowercase letters, digits "
            f"and underscores, starting with a letter (and not {REPORTS!r})",
            kind="invalid_input",
        )
    return name


def table_folder(table: str, date: str) -> str:
    return f"{ROOT}/{table}/date={date}"


def reports_folder(date: str) -> str:
    return f"{ROOT}/{REPORTS}/date={date}"


def safe_relpath(path: str) -> str:
    """A `/`-separated path inside the evidence root (refuses `..`, absolute paths, backslashes)."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise EvidenceStoreError(f"{path!r} is not a path inside the evidence root", kind="invalid_input")
    return path


# --------------------------------------------------------------------------------------------------
# Backends


class Backend(Protocol):
    """The few operations the store needs. Keys are `/`-separated and relative to the evidence root."""

    uri: str

    def put_if_absent(self, key: str, data: bytes | Blob) -> bool:
        """Create `key` with `data`; False (and nothing written) when it already exists."""

    def get(self, key: str) -> bytes: ...

    def iter_chunks(self, key: str) -> Iterator[bytes]: ...

    def open_seekable(self, key: str) -> BinaryIO: ...

    def head(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""

    def list(self, prefix: str) -> list[str]:
        """Every key under `prefix` (a folder path without trailing slash), sorted."""

    def full_uri(self, key: str) -> str: ...


class ObjectMissing(EvidenceStoreError):
    def __init__(self, uri: str):
        super().__init__(f"{uri} does not exist", kind="incomplete", uri=uri)


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


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what passes through into `target`."""

    def __init__(self, target: BinaryIO):
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.target.write(view)
        self.size += len(view)
        return len(view)


class LocalBackend:
    def __init__(self, root: Path):
        self.root = root
        self.uri = str(root)

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

    def get(self, key: str) -> bytes:
        with self.open_seekable(key) as fh:
            return fh.read()

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with self.open_seekable(key) as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def open_seekable(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(str(path)) from None
        except PermissionError:
            raise EvidenceStoreError(
                f"permission denied reading {path}: give the pipeline's user read access",
                kind="access_denied",
                uri=str(path),
            ) from None

    def head(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return path.stat().st_size if path.is_file() else None
        except OSError:
            return None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if base.is_file():
            raise EvidenceStoreError(
                f"{base} is a file where the evidence layout needs a folder; fix EVIDENCE_URI",
                kind="invalid_uri",
                uri=str(base),
            )
        if not base.is_dir():
            return []
        keys = []
        for dirpath, _dirnames, filenames in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            keys.extend(f"{rel}/{name}" for name in filenames if not name.startswith("."))
        return sorted(keys)


def _strip_userinfo(url: str | None) -> str:
    if not url:
        return "the AWS default endpoint"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# IAM action for each S3 API call, for "access denied" advice.
_IAM_ACTION = {
    "put_object": "s3:PutObject",
    "get_object": "s3:GetObject",
    "head_object": "s3:GetObject",
    "list_objects_v2": "s3:ListBucket",
}


class S3Backend:
    def __init__(self, client: Any, bucket: str, prefix: str):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._conditional_put = True

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
        kwargs = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "ContentType": _content_type(key),
            "ContentLength": blob.size,
            "Metadata": {"sha256": blob.sha256},
        }
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
                raise ObjectMissing(self.full_uri(key)) from None
            raise self._error(exc, "get_object", key) from exc
        except bx.BotoCoreError as exc:
            raise self._error(exc, "get_object", key) from exc

    def get(self, key: str) -> bytes:
        return b"".join(self.iter_chunks(key))

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        from botocore import exceptions as bx

        body = self._get_object(key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        except bx.BotoCoreError as exc:
            raise self._error(exc, "get_object", key) from exc
        finally:
            body.close()

    def open_seekable(self, key: str) -> BinaryIO:
        size = self.head(key)
        if size is None:
            raise ObjectMissing(self.full_uri(key))
        if size <= WHOLE_OBJECT_LIMIT:
            return io.BytesIO(self.get(key))
        return _S3RangeReader(self, key, size)  # type: ignore[return-value]

    def head(self, key: str) -> int | None:
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
        return int(response["ContentLength"])

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


class _S3RangeReader(io.RawIOBase):
    """A seekable read-only view of one S3 object that fetches only the byte ranges asked for."""

    def __init__(self, backend: S3Backend, key: str, size: int):
        self._backend, self._key, self._size, self._pos = backend, key, size, 0

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
        body = self._backend._get_object(self._key, Range=f"bytes={self._pos}-{end - 1}")["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


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


# --------------------------------------------------------------------------------------------------
# Serialisation


def _iso_timestamp_array(column: pa.Array) -> pa.Array:
    """Timestamps -> ISO-8601 UTC strings at the column's unit (s: `...T03:04:05Z`, us: six digits).

    Arrow's tz-aware timestamps hold UTC instants, so dropping the zone keeps the UTC wall clock,
    and Arrow's own timestamp-to-string cast is far faster than strftime on a million rows."""
    naive = column.cast(pa.timestamp(column.type.unit))
    text = pc.replace_substring(naive.cast(pa.string()), " ", "T", max_replacements=1)
    return pc.binary_join_element_wise(text, pa.scalar("Z"), "")


def _arrow_table(df: pd.DataFrame) -> pa.Table:
    if not isinstance(df, pd.DataFrame):
        raise EvidenceStoreError(
            f"evidence tables are pandas DataFrames, got {type(df).__name__}", kind="invalid_input"
        )
    if df.columns.duplicated().any() or not all(isinstance(c, str) for c in df.columns):
        raise EvidenceStoreError(
            f"evidence tables need unique string column names, got {list(df.columns)!r}",
            kind="invalid_input",
        )
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise EvidenceStoreError(
            f"cannot store this frame as Parquet ({exc}); give every column one type", kind="invalid_input"
        ) from None
    # Naive timestamps are UTC by the project's convention; store them as such.
    for i, fld in enumerate(table.schema):
        if pa.types.is_timestamp(fld.type) and fld.type.tz is None:
            table = table.set_column(
                i,
                pa.field(fld.name, pa.timestamp(fld.type.unit, tz="UTC")),
                table.column(i).cast(pa.timestamp(fld.type.unit, tz="UTC")),
            )
    # The "creator" entry of the pandas metadata names library versions; keep the rest (it restores
    # nullable Int64 and similar dtypes on read) and nothing time-dependent is written.
    return table


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        use_dictionary=True,
        write_statistics=True,
        store_schema=True,
    )
    return sink.getvalue().to_pybytes()


CSV_BATCH_ROWS = 100_000
SPOOL_LIMIT = 16 * 1024 * 1024


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = _iso_timestamp_array(column)
        elif pa.types.is_date(column.type):
            column = column.cast(pa.string())
        elif not _csv_writable(column.type):
            column = pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def csv_blob(table: pa.Table) -> Blob:
    """The table as CSV, converted a batch at a time into a spooled temporary file (memory up to
    SPOOL_LIMIT, then disk), hashed on the way: a big table never exists twice as CSV text in memory.

    A column whose sub-second check differs between batches would get two timestamp formats, so the
    seconds-or-microseconds choice is made once per column over the whole table first."""
    precise = {
        name
        for name, column in zip(table.column_names, table.columns, strict=True)
        if pa.types.is_timestamp(column.type) and _has_subseconds(column)
    }
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)
    writer_sink = _HashingWriter(spool)
    sink = pa.PythonFile(writer_sink, mode="w")
    options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
    batches = table.to_batches(max_chunksize=CSV_BATCH_ROWS) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)
    ]
    writer = None
    for batch in batches:
        ready = _csv_ready(_with_precision(batch, precise))
        if writer is None:
            writer = pa_csv.CSVWriter(sink, ready.schema, write_options=options)
        writer.write_batch(ready)
    writer.close()
    return Blob(file=spool, sha256=writer_sink.digest.hexdigest(), size=writer_sink.size)


def _has_subseconds(column: pa.ChunkedArray) -> bool:
    unit = column.type.unit
    if unit == "s":
        return False
    naive = column.cast(pa.timestamp(unit))
    whole = naive.cast(pa.timestamp("s"), safe=False).cast(pa.timestamp(unit))
    return pc.all(pc.equal(naive, whole)).as_py() is False


def _with_precision(batch: pa.RecordBatch, precise: set[str]) -> pa.RecordBatch:
    """Timestamp columns cast to us (sub-second values present) or s (none): one format per column."""
    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us" if name in precise else "s", tz="UTC"), safe=False)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _csv_writable(typ: pa.DataType) -> bool:
    return (
        pa.types.is_integer(typ)
        or pa.types.is_floating(typ)
        or pa.types.is_boolean(typ)
        or pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_null(typ)
        or pa.types.is_decimal(typ)
        or (pa.types.is_dictionary(typ) and pa.types.is_string(typ.value_type))
    )


def count_csv_rows(chunks: Iterator[bytes]) -> int | None:
    """Data rows of a CSV (header excluded), honouring quoted newlines; None when it cannot be parsed.

    Arrow's streaming reader, converting only the first column and only as text, counts a
    million-row file in a fraction of a second without inferring any types."""
    source = pa.PythonFile(io.BufferedReader(_ChunkReader(chunks), CHUNK), mode="r")
    try:
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(autogenerate_column_names=True, block_size=4 * 1024 * 1024),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.string()}),
        )
        return max(0, sum(batch.num_rows for batch in reader) - 1)
    except pa.ArrowInvalid as exc:
        return 0 if "Empty CSV file" in str(exc) else None


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._pending = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _hashing(chunks: Iterator[bytes], into: Any, counter: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        into.update(chunk)
        counter[0] += len(chunk)
        yield chunk


# --------------------------------------------------------------------------------------------------
# Report helpers

REPORT_BASES = ("checks.json", "report.html", "manifest.json")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _findings_table(check: dict[str, Any]) -> str:
    """The evidence table holding a check's full findings: `findings_table` if the check names one,
    else the compliance assets' naming (`AC-01` + `user_inventory` -> `ac01_user_inventory`)."""
    if check.get("findings_table"):
        return str(check["findings_table"])
    return f"{str(check.get('id', '')).lower().replace('-', '')}_{check.get('name') or ''}"


def _iso(value: Any) -> str:
    try:
        return iso_utc(value)
    except (TypeError, ValueError):
        return str(value)


def self_attempt(path: str) -> int:
    parsed = parse_attempt_name(posixpath.basename(path))
    return parsed[1] if parsed else 1


# --------------------------------------------------------------------------------------------------
# The store


@dataclass(frozen=True)
class _Attempt:
    number: int
    names: frozenset[str]  # file names (no folder) present for this attempt


class EvidenceStore:
    """Write-once evidence over a backend; see the module docstring for layout and attempts."""

    def __init__(self, backend: Backend):
        self.backend = backend

    @property
    def uri(self) -> str:
        return self.backend.uri

    def __repr__(self) -> str:
        return f"EvidenceStore({self.uri!r})"

    @classmethod
    def from_uri(cls, uri: str | os.PathLike[str], s3_client: Any = None) -> EvidenceStore:
        """`s3://bucket[/prefix]`, `file:///abs/path`, or a local folder (relative paths are resolved
        against the current directory). Without `s3_client`, boto3's defaults are used (they honour
        AWS_ENDPOINT_URL_S3 and the usual AWS_* variables) with bounded retries."""
        text = os.fspath(uri).strip() if uri is not None else ""
        if not text:
            raise EvidenceStoreError(
                "EVIDENCE_URI is empty: set it to s3://bucket/prefix or a local folder", kind="invalid_uri"
            )
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme == "s3":
            bucket = parts.netloc
            if not bucket or "@" in bucket or not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
                raise EvidenceStoreError(
                    f"EVIDENCE_URI {_redact_uri(text)!r} does not name a valid S3 bucket: use "
                    "s3://bucket-name/optional/prefix (3-63 lowercase letters, digits, dots, hyphens)",
                    kind="invalid_uri",
                )
            if parts.query or parts.fragment:
                raise EvidenceStoreError(
                    f"EVIDENCE_URI {_redact_uri(text)!r} has a query or fragment; use s3://bucket/prefix",
                    kind="invalid_uri",
                )
            prefix = parts.path.strip("/")
            if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
                raise EvidenceStoreError(
                    f"EVIDENCE_URI prefix {prefix!r} has empty, '.' or '..' segments", kind="invalid_uri"
                )
            return cls(S3Backend(s3_client or default_s3_client(), bucket, prefix))
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise EvidenceStoreError(
                    f"EVIDENCE_URI {text!r}: file:// URIs must be local (file:///absolute/path)",
                    kind="invalid_uri",
                )
            return cls(LocalBackend(Path(parts.path).resolve()))
        if len(scheme) > 1:  # a one-letter "scheme" is a Windows drive letter
            raise EvidenceStoreError(
                f"EVIDENCE_URI scheme {scheme}:// is not supported: use s3://bucket/prefix or a local folder",
                kind="invalid_uri",
            )
        root = Path(text).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise EvidenceStoreError(
                f"EVIDENCE_URI {root} is a file, not a folder: point it at a folder (it is created if absent)",
                kind="invalid_uri",
                uri=str(root),
            )
        return cls(LocalBackend(root))

    # ---- attempts ---------------------------------------------------------------------------

    def _attempts(self, folder: str, bases: tuple[str, ...]) -> dict[int, set[str]]:
        """Attempt number -> the base names (e.g. "users.parquet") present for it in `folder`."""
        wanted = {tuple(b.rsplit(".", 1)) for b in bases}
        found: dict[int, set[str]] = {}
        for key in self.backend.list(folder):
            name = key[len(folder) + 1 :]
            if "/" in name:
                continue
            parsed = parse_attempt_name(name)
            if parsed and (parsed[0], parsed[2]) in wanted:
                found.setdefault(parsed[1], set()).add(f"{parsed[0]}.{parsed[2]}")
        return found

    @staticmethod
    def _newest_complete(attempts: dict[int, set[str]], required: tuple[str, ...]) -> int | None:
        complete = [n for n, names in attempts.items() if set(required) <= names]
        return max(complete) if complete else None

    def _same_content(self, key: str, data: bytes | Blob) -> bool:
        blob = Blob.of(data)
        if self.backend.head(key) != blob.size:
            return False
        digest = hashlib.sha256()
        for chunk in self.backend.iter_chunks(key):
            digest.update(chunk)
        return digest.hexdigest() == blob.sha256

    def _write_attempt(
        self, folder: str, bases: tuple[str, ...], build: Callable[[int], list[tuple[str, bytes | Blob]]]
    ) -> tuple[int, bool]:
        """Write one attempt's files, in order, never replacing anything.

        `build(n)` returns [(base name, bytes)] for attempt n. Returns (attempt, wrote_anything).
        The newest existing attempt is reused when each of its files is byte-identical to ours (and
        its missing files, left by an interrupted run, are added); otherwise the next free number is
        taken. Losing a race for a name moves on to the next number.
        """
        attempts = self._attempts(folder, bases)
        newest = max(attempts) if attempts else 0
        if newest:
            files = build(newest)
            present = attempts[newest]
            if all(
                self._same_content(self._key(folder, base, newest), data)
                for base, data in files
                if base in present
            ):
                wrote = False
                clean = True
                for base, data in files:
                    if base in present:
                        continue
                    key = self._key(folder, base, newest)
                    if self.backend.put_if_absent(key, data):
                        wrote = True
                    elif not self._same_content(key, data):
                        clean = False
                        break
                if clean:
                    return newest, wrote
        for number in range(newest + 1, newest + 1 + MAX_ATTEMPT_RACES):
            files = build(number)
            owned = True
            for base, data in files:
                key = self._key(folder, base, number)
                if not self.backend.put_if_absent(key, data) and not self._same_content(key, data):
                    owned = False  # a concurrent writer took this attempt number
                    break
            if owned:
                return number, True
        raise EvidenceStoreError(
            f"could not find a free attempt name in {self.backend.full_uri(folder)} after "
            f"{MAX_ATTEMPT_RACES} tries: too many writers for the same day at once",
            kind="conflict",
        )

    @staticmethod
    def _key(folder: str, base: str, attempt: int) -> str:
        stem, ext = base.rsplit(".", 1)
        return f"{folder}/{attempt_name(stem, ext, attempt)}"

    # ---- tables -----------------------------------------------------------------------------

    def write_table(self, table: str, date: Any, df: pd.DataFrame) -> list[Artifact]:
        """Store `df` as `<table>.parquet` + `<table>.csv` for `date`, write-once (see module doc).

        Returns the Parquet and CSV artifacts of the attempt that now holds this content.
        """
        table, date = check_table(table), check_date(date)
        arrow = _arrow_table(df)
        rows = arrow.num_rows
        parquet = Blob.of(parquet_bytes(arrow))
        csv_data = csv_blob(arrow)
        del arrow
        folder = table_folder(table, date)
        bases = (f"{table}.parquet", f"{table}.csv")
        files = [(bases[0], parquet), (bases[1], csv_data)]
        try:
            number, wrote = self._write_attempt(folder, bases, lambda _n: files)
        finally:
            csv_data.close()
        artifacts = [
            Artifact(self._key(folder, base, number), blob.sha256, blob.size, rows) for base, blob in files
        ]
        log.info(
            "%s %s for %s: attempt %d (%d rows) in %s",
            "wrote" if wrote else "unchanged, kept",
            table,
            date,
            number,
            rows,
            self.backend.full_uri(folder),
        )
        return artifacts

    def newest_table_attempt(self, table: str, date: Any) -> int | None:
        """The newest complete attempt number of `table` for `date`, or None."""
        table, date = check_table(table), check_date(date)
        bases = (f"{table}.parquet", f"{table}.csv")
        return self._newest_complete(self._attempts(table_folder(table, date), bases), bases)

    def table_paths(self, table: str, date: Any) -> tuple[str, str] | None:
        """(parquet path, csv path) of the newest complete attempt, relative to the root; or None."""
        number = self.newest_table_attempt(table, date)
        if number is None:
            return None
        folder = table_folder(table, check_date(date))
        return self._key(folder, f"{table}.parquet", number), self._key(folder, f"{table}.csv", number)

    def has_table(self, table: str, date: Any) -> bool:
        return self.newest_table_attempt(table, date) is not None

    def read_table(self, table: str, date: Any, columns: list[str] | None = None) -> pd.DataFrame:
        """The newest complete attempt's Parquet for `table` on `date` (only `columns`, if given)."""
        paths = self.table_paths(table, date)
        if paths is None:
            raise EvidenceStoreError(
                f"no {table} evidence for {check_date(date)} in {self.uri}: materialize that partition first",
                kind="incomplete",
                uri=self.backend.full_uri(table_folder(check_table(table), check_date(date))),
            )
        with self.backend.open_seekable(paths[0]) as fh:
            try:
                return pd.read_parquet(fh, columns=list(columns) if columns is not None else None)
            except (pa.ArrowInvalid, KeyError, ValueError) as exc:
                raise EvidenceStoreError(
                    f"cannot read {self.backend.full_uri(paths[0])}: {exc}", kind="storage"
                ) from None

    def dates(self, table: str) -> list[str]:
        """Evidence dates (sorted, oldest first) holding a complete attempt of `table`."""
        table = check_table(table)
        prefix = f"{ROOT}/{table}"
        by_date: dict[str, dict[int, set[str]]] = {}
        for key in self.backend.list(prefix):
            parts = key[len(prefix) + 1 :].split("/")
            if len(parts) != 2 or not (m := DATE_FOLDER.match(parts[0])):
                continue
            parsed = parse_attempt_name(parts[1])
            if parsed and parsed[0] == table and parsed[2] in ("parquet", "csv"):
                by_date.setdefault(m[1], {}).setdefault(parsed[1], set()).add(parsed[2])
        return sorted(
            d
            for d, attempts in by_date.items()
            if any({"parquet", "csv"} <= exts for exts in attempts.values())
        )

    def full_uri(self, path: str) -> str:
        """The absolute location (local path or s3:// URI) of a root-relative path."""
        return self.backend.full_uri(path)

    # ---- hashing stored files ---------------------------------------------------------------

    def stored_artifact(self, path: str) -> Artifact:
        """Re-read `path` from storage: its sha256, size and row count (Parquet footer, CSV records,
        number of checks in a checks JSON). Raises ObjectMissing when absent."""
        digest, counter = hashlib.sha256(), [0]
        ext = path.rsplit(".", 1)[-1]
        chunks = _hashing(self.backend.iter_chunks(path), digest, counter)
        rows: int | None = None
        parquet_data: bytes | None = None
        if ext == "parquet":
            size = self.backend.head(path)
            if size is not None and size <= WHOLE_OBJECT_LIMIT:
                parquet_data = b"".join(chunks)  # small enough: read the footer from memory
        if ext == "csv":
            rows = count_csv_rows(chunks)
        elif ext == "json" and posixpath.basename(path).startswith("checks."):
            data = b"".join(chunks)
            try:
                parsed = json.loads(data)
                rows = len(parsed) if isinstance(parsed, list) else None
            except ValueError:
                rows = None
        else:
            for _ in chunks:
                pass
        for _ in chunks:  # drain whatever a row counter left unread
            pass
        if ext == "parquet":
            try:
                source = (
                    io.BytesIO(parquet_data) if parquet_data is not None else self.backend.open_seekable(path)
                )
                with source as fh:
                    rows = pq.ParquetFile(fh).metadata.num_rows
            except (pa.ArrowInvalid, OSError):
                rows = None  # not a readable Parquet file: the hash already tells the story
        return Artifact(path, digest.hexdigest(), counter[0], rows)

    # ---- reports, manifest, verification ---------------------------------------------------

    def write_report(
        self,
        date: Any,
        *,
        checks: list[dict[str, Any]],
        manifest_fields: dict[str, Any],
        tables: list[str],
    ) -> Manifest:
        """Write the day's checks.json, report.html and, last, manifest.json (write-once, see module doc).

        `checks`: dicts {id, name, status, observed, threshold, controls, reason, items: [...]}, status in
        pass|fail|warn|skip|error. `manifest_fields`: run_id, api_url, company, requests ({endpoint:
        {requests, rate_limited, retries}}), collected_at, plus any extra JSON-able fields to record.
        `tables`: every table that is part of the day; the newest attempt of each is re-read from storage
        and re-hashed for the manifest. Raises EvidenceStoreError (and writes nothing) when any is missing.
        """
        date = check_date(date)
        table_names = list(dict.fromkeys(check_table(t) for t in tables))
        try:
            checks_norm = [normalise_check(c) for c in checks]
        except ValueError as exc:
            raise EvidenceStoreError(
                f"the {date} report was not written: {exc}", kind="invalid_input"
            ) from None
        ids = [c["id"] for c in checks_norm]
        if len(set(ids)) != len(ids):
            raise EvidenceStoreError(
                f"the {date} report was not written: duplicate check ids {sorted({i for i in ids if ids.count(i) > 1})}",
                kind="invalid_input",
            )
        paths = {t: self.table_paths(t, date) for t in table_names}
        missing = [t for t, p in paths.items() if p is None]
        if missing:
            raise EvidenceStoreError(
                f"the {date} report was not written: no evidence for {', '.join(missing)} on {date} in "
                f"{self.uri}. Materialize those tables for {date} first; a day's manifest is only written "
                "when every file it lists is in place, so no partial day is presented as complete",
                kind="incomplete",
                uri=self.uri,
            )
        table_artifacts = {t: [self.stored_artifact(p) for p in paths[t]] for t in table_names}
        previous = self._previous_manifest_artifact(date)
        checks_data = json_bytes(checks_norm)
        folder = reports_folder(date)
        company = manifest_fields.get("company")
        built: dict[int, tuple[list[tuple[str, bytes]], dict[str, Any]]] = {}

        def build(number: int) -> list[tuple[str, bytes]]:
            if number not in built:
                checks_path = self._key(folder, "checks.json", number)
                report_path = self._key(folder, "report.html", number)
                html_data = render_report(
                    date=date,
                    company=company,
                    collected_at=manifest_fields.get("collected_at")
                    and _iso(manifest_fields["collected_at"]),
                    run_id=manifest_fields.get("run_id"),
                    package_version=__version__,
                    api_url=manifest_fields.get("api_url"),
                    checks=[{**c, "findings_table": _findings_table(c)} for c in checks_norm],
                    tables=table_artifacts,
                    report_dir=folder,
                    checks_path=checks_path,
                    attempt=number,
                ).encode("utf-8")
                artifacts = [a for t in table_names for a in table_artifacts[t]]
                artifacts += [
                    Artifact(checks_path, _sha(checks_data), len(checks_data), len(checks_norm)),
                    Artifact(report_path, _sha(html_data), len(html_data), None),
                ]
                try:
                    data = build_manifest_data(
                        date=date,
                        attempt=number,
                        package_version=__version__,
                        manifest_fields=manifest_fields,
                        artifacts=artifacts,
                        checks=checks_norm,
                        previous=previous[0] if previous else None,
                        previous_date=previous[1] if previous else None,
                    )
                except ValueError as exc:
                    raise EvidenceStoreError(
                        f"the {date} report was not written: {exc}", kind="invalid_input"
                    ) from None
                built[number] = (
                    [
                        ("checks.json", checks_data),
                        ("report.html", html_data),
                        ("manifest.json", json_bytes(data)),
                    ],
                    data,
                )
            return built[number][0]

        number, wrote = self._write_attempt(folder, REPORT_BASES, build)
        files, data = built[number]
        manifest_bytes = files[2][1]
        path = self._key(folder, "manifest.json", number)
        log.info(
            "%s the %s report (attempt %d) in %s",
            "wrote" if wrote else "kept",
            date,
            number,
            self.backend.full_uri(folder),
        )
        return Manifest(
            data=data,
            path=path,
            sha256=_sha(manifest_bytes),
            uri=self.backend.full_uri(path),
            bytes=len(manifest_bytes),
        )

    def _report_dates(self) -> dict[str, dict[int, set[str]]]:
        """Every report date -> attempt number -> base names present."""
        prefix = f"{ROOT}/{REPORTS}"
        out: dict[str, dict[int, set[str]]] = {}
        for key in self.backend.list(prefix):
            parts = key[len(prefix) + 1 :].split("/")
            if len(parts) != 2 or not (m := DATE_FOLDER.match(parts[0])):
                continue
            parsed = parse_attempt_name(parts[1])
            if parsed and f"{parsed[0]}.{parsed[2]}" in REPORT_BASES:
                out.setdefault(m[1], {}).setdefault(parsed[1], set()).add(f"{parsed[0]}.{parsed[2]}")
        return out

    def _manifest_path(self, date: str, attempts: dict[int, set[str]] | None = None) -> str | None:
        folder = reports_folder(date)
        if attempts is None:
            attempts = self._attempts(folder, REPORT_BASES)
        numbers = [n for n, names in attempts.items() if "manifest.json" in names]
        return self._key(folder, "manifest.json", max(numbers)) if numbers else None

    def _previous_manifest_artifact(self, date: str) -> tuple[Artifact, str] | None:
        """The newest manifest of the most recent earlier date that has one, re-hashed."""
        for earlier, attempts in sorted(self._report_dates().items(), reverse=True):
            if earlier >= date:
                continue
            path = self._manifest_path(earlier, attempts)
            if path:
                return self.stored_artifact(path), earlier
        return None

    def report_dates(self) -> list[str]:
        """Dates (oldest first) that have a manifest, i.e. a complete day of evidence."""
        return sorted(
            d
            for d, attempts in self._report_dates().items()
            if any("manifest.json" in names for names in attempts.values())
        )

    def read_manifest(self, date: Any) -> Manifest | None:
        """The day's evidence index: its newest manifest, or None when the day has no manifest."""
        date = check_date(date)
        path = self._manifest_path(date)
        if path is None:
            return None
        raw = self.backend.get(path)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise EvidenceStoreError(
                f"{self.backend.full_uri(path)} is not valid JSON: {exc}", kind="storage"
            ) from None
        return Manifest(
            data=data, path=path, sha256=_sha(raw), uri=self.backend.full_uri(path), bytes=len(raw)
        )

    def verify(self, date: Any) -> Verification:
        """Re-read every file the day's newest manifest lists, re-hash it, compare size and rows, and
        check both hash-chain links: this manifest's link to the previous day, and the next day's link
        to this manifest. `Verification.ok` only when the day is complete and untampered."""
        date = check_date(date)
        folder = reports_folder(date)
        v = Verification(date=date, uri=self.uri)
        attempts = self._attempts(folder, REPORT_BASES)
        path = self._manifest_path(date, attempts)
        if path is None:
            v.problems.append(
                f"no manifest.json for {date} in {self.backend.full_uri(folder)}: the day's evidence is "
                "incomplete (the report step did not finish) or was never written"
            )
            return v
        raw = self.backend.get(path)
        v.manifest_path, v.manifest_sha256 = path, _sha(raw)
        try:
            data = json.loads(raw)
            entries = [Artifact.from_dict(a) for a in data["artifacts"]]
        except (ValueError, KeyError, TypeError) as exc:
            v.problems.append(f"{path} is not a readable manifest ({type(exc).__name__}: {exc})")
            return v
        if data.get("date") != date:
            v.problems.append(f"{path} says it is the manifest of {data.get('date')!r}, not {date}")
        if not entries:
            v.problems.append(f"{path} lists no artifacts")
        for expected in entries:
            v.files.append(self._check_file(expected))
        v.problems.extend(f"{f.status} {f.path}: {f.detail}" for f in v.files if not f.ok)

        newest = max(attempts)
        if newest > self_attempt(path):
            v.notes.append(
                f"report attempt {newest} in {folder} has no manifest: a later report run was interrupted; "
                "it is not part of the evidence"
            )
        for table in sorted({e.path.split("/")[1] for e in entries if e.path.split("/")[1] != REPORTS}):
            listed = {e.path for e in entries}
            current = self.table_paths(table, date)
            if current and current[0] not in listed:
                v.notes.append(
                    f"{table} has a newer attempt ({current[0]}) than the manifest lists: "
                    "written after this report; not covered by any manifest"
                )

        link = data.get("previous_manifest")
        if link:
            v.previous = self._check_link(link, f"{path} links to the previous manifest")
            if not v.previous.startswith("ok"):
                v.problems.append(v.previous)
        else:
            v.previous = "none (no earlier manifest when this day was sealed)"
        self._check_next_link(date, path, v.manifest_sha256, v)
        return v

    def _check_link(self, link: dict[str, Any], what: str) -> str:
        try:
            target = safe_relpath(str(link["path"]))
            expected_sha = str(link["sha256"])
        except (KeyError, EvidenceStoreError):
            return f"{what}, but the link is malformed: {link!r}"
        try:
            stored = self.stored_artifact(target)
        except ObjectMissing:
            return f"{what} {target}, which is missing: the hash chain to earlier days is broken"
        if stored.sha256 != expected_sha:
            return (
                f"{what} {target}, which changed after it was linked (sha256 expected {expected_sha}, "
                f"found {stored.sha256}): the hash chain is broken"
            )
        return f"ok {target} ({link.get('date') or '?'}, sha256 {expected_sha[:16]}…)"

    def _check_next_link(self, date: str, path: str, sha: str, v: Verification) -> None:
        """The next later day's manifest recorded this day's manifest hash: check it still matches."""
        later = [d for d in self.report_dates() if d > date]
        if not later:
            return
        next_path = self._manifest_path(later[0])
        try:
            link = json.loads(self.backend.get(next_path)).get("previous_manifest") or {}
        except (ValueError, EvidenceStoreError):
            v.notes.append(f"the next day's manifest {next_path} is unreadable; verify {later[0]} too")
            return
        linked = link.get("path")
        if not linked or not str(linked).startswith(reports_folder(date) + "/"):
            return  # the next day was sealed before this one existed (a backfill); nothing to compare
        if linked == path:
            if link.get("sha256") != sha:
                v.problems.append(
                    f"{path} no longer matches the hash {later[0]}'s manifest recorded for it "
                    f"({link.get('sha256')}, now {sha}): this manifest was altered after {later[0]} was sealed"
                )
            return
        if self.backend.head(str(linked)) is None:
            v.problems.append(
                f"{later[0]}'s manifest links to {linked}, which is missing: a manifest of {date} was deleted"
            )
        else:
            v.notes.append(
                f"{later[0]}'s manifest links to {linked}; {path} was written after {later[0]} was sealed "
                "(a rerun of this day)"
            )

    def _check_file(self, expected: Artifact) -> FileCheck:
        try:
            safe_relpath(expected.path)
        except EvidenceStoreError:
            return FileCheck(expected.path, FILE_ALTERED, expected, detail="path outside the evidence root")
        try:
            stored = self.stored_artifact(expected.path)
        except ObjectMissing:
            return FileCheck(
                expected.path, FILE_MISSING, expected, detail="listed in the manifest, not in storage"
            )
        differences = []
        if stored.sha256 != expected.sha256:
            differences.append(f"sha256 {stored.sha256[:16]}… instead of {expected.sha256[:16]}…")
        if stored.bytes != expected.bytes:
            differences.append(f"{stored.bytes} bytes instead of {expected.bytes}")
        if expected.rows is not None and stored.rows != expected.rows:
            differences.append(f"{stored.rows} rows instead of {expected.rows}")
        return FileCheck(
            expected.path,
            FILE_ALTERED if differences else FILE_OK,
            expected,
            actual_sha256=stored.sha256,
            actual_bytes=stored.bytes,
            actual_rows=stored.rows,
            detail="; ".join(differences),
        )


def _redact_uri(text: str) -> str:
    parts = urlsplit(text)
    if "@" in parts.netloc:
        return urlunsplit((parts.scheme, "***@" + parts.netloc.rsplit("@", 1)[1], parts.path, "", ""))
    return text
