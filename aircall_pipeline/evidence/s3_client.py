"""The boto3 S3 client behind the evidence store, built from dagster-aws's S3Resource settings."""

from typing import Any

from dagster_aws.s3 import S3Resource

from aircall_pipeline.evidence.backends import S3_CONNECT_TIMEOUT, S3_MAX_ATTEMPTS, S3_READ_TIMEOUT


def s3_client_from_resource(s3: S3Resource) -> Any:
    """A boto3 client configured like `s3.get_client()` but with bounded retries (at most
    S3_MAX_ATTEMPTS, fewer if the resource says so) and connect/read timeouts, so that a dead
    endpoint fails a step in seconds; Dagster's RetryPolicy is the place for longer waits."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": max(1, min(s3.max_attempts, S3_MAX_ATTEMPTS)), "mode": "standard"},
        connect_timeout=S3_CONNECT_TIMEOUT,
        read_timeout=S3_READ_TIMEOUT,
        signature_version=UNSIGNED if s3.use_unsigned_session else None,
    )
    session = boto3.session.Session(profile_name=s3.profile_name)
    return session.client(
        "s3",
        region_name=s3.region_name,
        endpoint_url=s3.endpoint_url,
        use_ssl=s3.use_ssl,
        verify=s3.verify,
        aws_access_key_id=s3.aws_access_key_id,
        aws_secret_access_key=s3.aws_secret_access_key,
        aws_session_token=s3.aws_session_token,
        config=config,
    )
