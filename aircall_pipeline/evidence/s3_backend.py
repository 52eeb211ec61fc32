"""Evidence in an S3 bucket (or an S3-compatible server): exclusive creation with a conditional
PUT (If-None-Match, with a head-then-put fallback for servers without it), Object Lock retention
on every object when configured, whole GETs for small objects and ranged GETs for big Parquet.
Failures become `EvidenceStoreError`s with advice (s3_errors.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

import aircall_pipeline.evidence.objects as objects
from aircall_pipeline.evidence.errors import EvidenceStoreError, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.layout import safe_relpath
from aircall_pipeline.evidence.objects import (
    CHUNK,
    Blob,
    ObjectInfo,
    RangeFile,
    ReadsWhole,
    Retention,
)
from aircall_pipeline.evidence.s3_errors import _strip_userinfo, s3_error
from aircall_pipeline.timestamps import iso_utc

log = logging.getLogger(__name__)


class S3Backend(ReadsWhole):
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
        """Translate a boto3/botocore failure into advice (s3_errors.py). Never includes credentials."""
        return s3_error(
            exc, operation,
            where=f"s3://{self.bucket}/{self._key(key)}" if key else f"s3://{self.bucket}/{self.prefix}",
            bucket=self.bucket, prefix=self.prefix, uri=self.uri,
            endpoint_url=getattr(getattr(self.client, "meta", None), "endpoint_url", None),
            retained=self.retention is not None,
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
        if size <= objects.WHOLE_OBJECT_LIMIT:  # looked up now: the store decides by the same value
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
