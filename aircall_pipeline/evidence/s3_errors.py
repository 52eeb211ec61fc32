"""S3 failures as `EvidenceStoreError`s that say what to do: which permission to grant, which
variable to check. No message carries credentials (the endpoint is shown without user info)."""

from __future__ import annotations

from aircall_pipeline.evidence.errors import EvidenceStoreError
from aircall_pipeline.redaction import redact_url


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


def s3_error(exc: Exception, operation: str, *, where: str, bucket: str, prefix: str, uri: str,
             endpoint_url: str | None, retained: bool) -> EvidenceStoreError:
    """Translate a boto3/botocore failure of `operation` on `where` into advice. Never includes
    credentials. `retained`: every upload carries an Object Lock retention."""
    from botocore import exceptions as bx

    endpoint = _strip_userinfo(endpoint_url)
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return EvidenceStoreError(
                f"bucket {bucket} does not exist: create it or fix EVIDENCE_URI ({uri})",
                kind="missing_bucket",
                uri=uri,
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
            if operation == "put_object" and retained:
                # Every upload carries its retention, which needs its own permission.
                action = "s3:PutObject and s3:PutObjectRetention"
            return EvidenceStoreError(
                f"access denied: {action} on {where} was refused. Grant the pipeline's IAM identity "
                f"{action} on arn:aws:s3:::{bucket}"
                + ("" if action == "s3:ListBucket" else f"/{prefix + '/' if prefix else ''}*")
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
            uri=uri,
        )
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        return EvidenceStoreError(
            f"cannot reach the S3 endpoint {endpoint} ({type(exc).__name__}) for {operation} {where}: "
            "check AWS_ENDPOINT_URL_S3 (unset it for AWS itself), the network, and that the S3 "
            "server is running",
            kind="endpoint_unreachable",
            uri=uri,
        )
    return EvidenceStoreError(
        f"S3 {operation} on {where} failed: {type(exc).__name__}", kind="storage", uri=where
    )
