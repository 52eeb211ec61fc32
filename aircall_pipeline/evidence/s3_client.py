"""The one place an S3 client is built (a test fails if another appears).

Every client has bounded retries and connect/read timeouts, so that a dead endpoint fails a step in
seconds; Dagster's RetryPolicy (or the next scheduled run) is the place for longer waits.
`default_s3_client` takes everything from the standard AWS_* environment (AWS_ENDPOINT_URL_S3
included); `s3_client_from_resource` follows dagster-aws's S3Resource settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only the type: this module stays importable without Dagster
    from dagster_aws.s3 import S3Resource

S3_MAX_ATTEMPTS = 3
S3_CONNECT_TIMEOUT = 5.0
S3_READ_TIMEOUT = 60.0


def bounded_s3_config(max_attempts: int = S3_MAX_ATTEMPTS, *, unsigned: bool = False) -> Any:
    """botocore's Config with at most S3_MAX_ATTEMPTS attempts (fewer if asked) and the timeouts."""
    from botocore import UNSIGNED
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": max(1, min(max_attempts, S3_MAX_ATTEMPTS)), "mode": "standard"},
        connect_timeout=S3_CONNECT_TIMEOUT,
        read_timeout=S3_READ_TIMEOUT,
        signature_version=UNSIGNED if unsigned else None,
    )


def build_s3_client(
    *, profile_name: str | None = None, max_attempts: int = S3_MAX_ATTEMPTS, unsigned: bool = False, **client_args: Any
) -> Any:
    """A boto3 S3 client with `bounded_s3_config`. `client_args` (region_name, endpoint_url, keys, ...)
    go to `Session.client` as they are; what is not given comes from boto3's own AWS_* lookup."""
    import boto3

    session = boto3.session.Session(profile_name=profile_name)
    return session.client("s3", config=bounded_s3_config(max_attempts, unsigned=unsigned), **client_args)


def default_s3_client() -> Any:
    """A client from the standard AWS_* environment (AWS_ENDPOINT_URL_S3 included)."""
    return build_s3_client()


def s3_client_from_resource(s3: S3Resource) -> Any:
    """A client configured like `s3.get_client()`, but bounded: at most S3_MAX_ATTEMPTS attempts
    (fewer if the resource says so) and the timeouts."""
    return build_s3_client(
        profile_name=s3.profile_name,
        max_attempts=s3.max_attempts,
        unsigned=s3.use_unsigned_session,
        region_name=s3.region_name,
        endpoint_url=s3.endpoint_url,
        use_ssl=s3.use_ssl,
        verify=s3.verify,
        aws_access_key_id=s3.aws_access_key_id,
        aws_secret_access_key=s3.aws_secret_access_key,
        aws_session_token=s3.aws_session_token,
    )
