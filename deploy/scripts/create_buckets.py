"""Create the S3 buckets aircall_pipeline writes to, if they do not exist yet. Idempotent.

    python create_buckets.py [--wait SECONDS] [--retention-days N] [--retention-mode COMPLIANCE|GOVERNANCE]

Buckets, from the same variables the pipeline reads:
  EVIDENCE_URI=s3://bucket/prefix   created with Object Lock enabled (which also turns versioning on),
                                    so an object version, once written, cannot be deleted or
                                    overwritten for the retention period.
  DAGSTER_COMPUTE_LOG_BUCKET        plain bucket for step stdout/stderr (Dagster's compute logs).

An existing bucket is never modified: Object Lock can only be chosen at creation, and weakening a
production bucket from a start-up script would be wrong. The script only reports whether the
evidence bucket has versioning and Object Lock, and exits non-zero when a bucket cannot be reached
or created (missing permissions, wrong endpoint) with the reason.

`--retention-days` sets a default retention on a NEWLY created evidence bucket (e.g. 2190 = 6 years
for HIPAA documentation; COMPLIANCE mode cannot be shortened or removed by anyone, root included,
so try it on a test bucket first). Without it, no default retention is set. Its defaults are the
pipeline's own EVIDENCE_RETENTION_DAYS and EVIDENCE_RETENTION_MODE, which make the pipeline write every
object with that retention: when they ask for a retention and the evidence bucket already exists
WITHOUT Object Lock, the script exits non-zero with advice, since every write of the pipeline would be
refused anyway.

Endpoint and credentials are boto3's own: AWS_ENDPOINT_URL_S3 (MinIO / moto), AWS_ACCESS_KEY_ID, ...
Used by deploy/docker-compose.yaml (service s3_init); runs anywhere boto3 is installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from urllib.parse import urlsplit


def evidence_bucket() -> str | None:
    uri = os.environ.get("EVIDENCE_URI", "")
    if not uri.startswith("s3://"):
        return None
    bucket = urlsplit(uri).netloc
    if not bucket:
        raise SystemExit(f"EVIDENCE_URI={uri!r} has no bucket name (expected s3://bucket/prefix).")
    return bucket


def retention_from_env() -> tuple[int | None, str]:
    """EVIDENCE_RETENTION_DAYS / EVIDENCE_RETENTION_MODE, as the pipeline reads them (empty = unset)."""
    raw_days = os.environ.get("EVIDENCE_RETENTION_DAYS", "").strip()
    raw_mode = os.environ.get("EVIDENCE_RETENTION_MODE", "").strip() or "compliance"
    try:
        days = int(raw_days) if raw_days else None
    except ValueError:
        raise SystemExit(f"EVIDENCE_RETENTION_DAYS={raw_days!r} is not a whole number of days.") from None
    if days is not None and days < 1:
        raise SystemExit(f"EVIDENCE_RETENTION_DAYS={days} must be at least 1.")
    if raw_mode.lower() not in ("compliance", "governance"):
        raise SystemExit(f"EVIDENCE_RETENTION_MODE={raw_mode!r}: use compliance or governance.")
    return days, raw_mode.upper()


def _code(error) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "") or type(error).__name__


def wait_for_endpoint(client, seconds: float) -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError

    deadline = time.monotonic() + seconds
    while True:
        try:
            client.list_buckets()
            return
        except EndpointConnectionError as error:
            if time.monotonic() >= deadline:
                raise SystemExit(
                    f"S3 endpoint {client.meta.endpoint_url} unreachable after {seconds:.0f}s: {error}"
                ) from None
            time.sleep(1)
        except ClientError:
            return  # reachable; ListBuckets may simply not be allowed


def bucket_exists(client, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
        return True
    except ClientError as error:
        code = _code(error)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        if code in ("403", "AccessDenied", "Forbidden"):
            raise SystemExit(
                f"s3://{bucket}: access denied (it exists but these credentials may not use it, or it "
                "belongs to another account). Check AWS_ACCESS_KEY_ID / the role's policy."
            ) from None
        raise


def create_bucket(client, bucket: str, *, object_lock: bool) -> None:
    kwargs: dict = {"Bucket": bucket}
    region = client.meta.region_name
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if object_lock:
        kwargs["ObjectLockEnabledForBucket"] = True
    client.create_bucket(**kwargs)


def describe_protection(client, bucket: str) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    versioning = client.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled")
    try:
        lock = client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        lock_state = lock.get("ObjectLockEnabled", "Disabled")
        rule = lock.get("Rule", {}).get("DefaultRetention")
        if rule:
            span = f"{rule['Days']} days" if "Days" in rule else f"{rule.get('Years')} years"
            lock_state += f", default retention {rule.get('Mode')} {span}"
    except ClientError as error:
        if _code(error) not in ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"):
            raise
        lock_state = "Disabled"
    return versioning, lock_state


def main(argv: list[str] | None = None) -> int:
    env_days, env_mode = retention_from_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the S3 endpoint")
    parser.add_argument("--retention-days", type=int, default=env_days, help="default: EVIDENCE_RETENTION_DAYS")
    parser.add_argument(
        "--retention-mode", choices=["COMPLIANCE", "GOVERNANCE"], default=env_mode,
        help="default: EVIDENCE_RETENTION_MODE, else COMPLIANCE",
    )  # fmt: skip
    args = parser.parse_args(argv)

    import boto3

    client = boto3.client("s3")
    if args.wait:
        wait_for_endpoint(client, args.wait)

    wanted: list[tuple[str, bool]] = []
    evidence = evidence_bucket()
    if evidence:
        wanted.append((evidence, True))
    else:
        print("EVIDENCE_URI is not an s3:// URI: no evidence bucket to create.")
    logs = os.environ.get("DAGSTER_COMPUTE_LOG_BUCKET")
    if logs and logs != evidence:
        wanted.append((logs, False))

    status = 0
    for bucket, is_evidence in wanted:
        if bucket_exists(client, bucket):
            print(f"s3://{bucket}: exists, left as it is.")
        else:
            create_bucket(client, bucket, object_lock=is_evidence)
            print(f"s3://{bucket}: created" + (" with Object Lock (versioning on)." if is_evidence else "."))
            if is_evidence and args.retention_days:
                client.put_object_lock_configuration(
                    Bucket=bucket,
                    ObjectLockConfiguration={
                        "ObjectLockEnabled": "Enabled",
                        "Rule": {
                            "DefaultRetention": {"Mode": args.retention_mode, "Days": args.retention_days}
                        },
                    },
                )
        if is_evidence:
            versioning, lock = describe_protection(client, bucket)
            print(f"s3://{bucket}: versioning {versioning}; Object Lock {lock}.")
            if versioning != "Enabled":
                print(
                    f"WARNING: s3://{bucket} has no versioning: an overwritten or deleted evidence file "
                    "could not be recovered. See deploy/README.md (Backups).",
                    file=sys.stderr,
                )
            if args.retention_days and not lock.startswith("Enabled"):
                print(
                    f"ERROR: EVIDENCE_RETENTION_DAYS={args.retention_days} asks for locked evidence, but "
                    f"s3://{bucket} has no Object Lock, so the pipeline would refuse to write there. Use a "
                    "new bucket (this script creates it with Object Lock), enable Object Lock on this one "
                    "(`aws s3api put-object-lock-configuration`, versioning must be on), or unset "
                    "EVIDENCE_RETENTION_DAYS. See deploy/README.md (Evidence integrity).",
                    file=sys.stderr,
                )
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
