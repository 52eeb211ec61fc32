"""An account's API key read from AWS Secrets Manager (`api_secret: aws-secretsmanager:<name-or-arn>`).

Two thousand accounts do not fit in environment variables; one secret per account does. The secret's
SecretString is JSON: `{"api_id": "...", "api_token": "..."}`. It is read at run time, through boto3
(region, endpoint and credentials from the usual AWS_* variables: AWS_REGION / AWS_DEFAULT_REGION,
AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL, the role of the pod), and kept in this process
for `CACHE_SECONDS` (a run is one process: one read per run and account).

The values never reach a message, a log record or an exception's context: every error is built
after the `except` block that caught the cause, names the secret (a name, not a value) and says what
to do. Every value read is remembered in `resolved_values()` so that the alert scrubber redacts it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from aircall_pipeline.config.accounts import SECRET_REF_PREFIX
from aircall_pipeline.config.settings_error import SettingsError

CACHE_SECONDS = 300.0
KEYS = ("api_id", "api_token")
SHAPE = '{"api_id": "...", "api_token": "..."}'
# Connect/read timeouts and attempts: a dead endpoint fails the run in seconds, not minutes.
CONNECT_TIMEOUT, READ_TIMEOUT, MAX_ATTEMPTS = 5, 10, 3

_clock: Callable[[], float] = time.monotonic
_lock = threading.Lock()
_cache: dict[str, tuple[float, tuple[str, str]]] = {}
_resolved: set[tuple[str, str]] = set()


def secret_id(reference: str) -> str:
    """`aws-secretsmanager:NAME` -> NAME (a name or an ARN)."""
    if not reference.startswith(SECRET_REF_PREFIX) or not reference[len(SECRET_REF_PREFIX):]:
        raise SettingsError(f"api_secret must be {SECRET_REF_PREFIX}<secret name or ARN>.")
    return reference[len(SECRET_REF_PREFIX):]


def resolved_values() -> list[tuple[str, str]]:
    """(api id, api token) of every secret read in this process: what the scrubber must redact."""
    with _lock:
        return sorted(_resolved)


def clear_cache() -> None:
    """Forget the cached credentials (not the values the scrubber redacts)."""
    with _lock:
        _cache.clear()


def credentials_from_secret(reference: str, account: str | None = None) -> tuple[str, str]:
    """(api_id, api_token) from the secret `reference` names, cached for CACHE_SECONDS."""
    name = secret_id(reference)
    now = _clock()
    with _lock:
        hit = _cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
    credentials = _read(name, f"account {account}" if account else "the account")
    with _lock:
        _cache[name] = (now + CACHE_SECONDS, credentials)
        _resolved.add(credentials)
    return credentials


def _region(name: str) -> str | None:
    """The region of an ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), else None (boto3's own)."""
    parts = name.split(":")
    return parts[3] or None if len(parts) >= 7 and parts[0] == "arn" else None


def _client(name: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                    retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"})
    return boto3.session.Session().client("secretsmanager", region_name=_region(name), config=config)


def _read(name: str, whose: str) -> tuple[str, str]:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    problem: str | None = None
    response: dict[str, Any] = {}
    _quiet_botocore()
    try:
        response = _client(name).get_secret_value(SecretId=name)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        problem = _client_problem(name, whose, str(exc.response.get("Error", {}).get("Code", "")), status)
    except NoRegionError:
        problem = (f"the API key of {whose} is in AWS Secrets Manager ({name}) but no AWS region is set: set "
                   "AWS_REGION (or AWS_DEFAULT_REGION), or give the secret's full ARN in api_secret.")
    except NoCredentialsError:
        problem = (f"the API key of {whose} is in AWS Secrets Manager ({name}) but no AWS credentials were "
                   "found: give the pipeline an IAM role (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).")
    except BotoCoreError as exc:
        # Connection and endpoint errors: their text names the endpoint, never a secret value.
        problem = (f"AWS Secrets Manager could not be reached to read the API key of {whose} ({name}): "
                   f"{type(exc).__name__}: {exc}. Check AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_REGION and "
                   "the network.")
    if problem is None:
        problem, credentials = _parse(response, name, whose)
        if problem is None:
            return credentials
    # Raised here, outside every `except`: the error carries no context that could hold the secret.
    raise SettingsError(problem)


def _client_problem(name: str, whose: str, code: str, status: int | None = None) -> str:
    if code == "ResourceNotFoundException":
        return (f"AWS Secrets Manager has no secret {name!r} (the API key of {whose}): create it with the "
                f"SecretString {SHAPE}, or correct api_secret in the accounts file.")
    refused_credentials = ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
                           "InvalidClientTokenId")
    # AWS says AccessDeniedException; some S3-compatible stand-ins only answer HTTP 403.
    if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation") or (
            status == 403 and code not in refused_credentials):
        return (f"access to the secret {name!r} (the API key of {whose}) was denied: allow "
                f"secretsmanager:GetSecretValue on it (and kms:Decrypt on its KMS key) for the pipeline's "
                "AWS role.")
    if code == "DecryptionFailure":
        return (f"the secret {name!r} (the API key of {whose}) could not be decrypted: allow kms:Decrypt on "
                "its KMS key for the pipeline's AWS role.")
    if code in refused_credentials:
        return (f"AWS refused the pipeline's own AWS credentials ({code}) while reading the secret {name!r} "
                f"(the API key of {whose}): renew the AWS credentials or the role.")
    if code == "InvalidRequestException":
        return (f"the secret {name!r} (the API key of {whose}) cannot be read now (it may be scheduled for "
                "deletion): restore it, or point api_secret at a live secret.")
    return f"AWS Secrets Manager refused to read the secret {name!r} (the API key of {whose}): {code or 'error'}."


def _parse(response: dict[str, Any], name: str, whose: str) -> tuple[str | None, tuple[str, str]]:
    """(problem, credentials): the problem in words that never include the secret's text."""
    none = ("", "")
    text = response.get("SecretString")
    if not isinstance(text, str):
        return (f"the secret {name!r} (the API key of {whose}) holds binary data; store the SecretString "
                f"{SHAPE} instead."), none
    try:
        data = json.loads(text)
    except ValueError:
        data = _NOT_JSON
    if data is _NOT_JSON or not isinstance(data, dict):
        return (f"the secret {name!r} (the API key of {whose}) is not a JSON object; store the SecretString "
                f"{SHAPE} (the key's two parts from the Aircall Dashboard, Integrations & API)."), none
    missing = [k for k in KEYS if k not in data]
    if missing:
        return (f"the secret {name!r} (the API key of {whose}) lacks {' and '.join(missing)}; its "
                f"SecretString must be {SHAPE}."), none
    empty = [k for k in KEYS if not isinstance(data[k], str) or not data[k].strip()]
    if empty:
        return (f"the secret {name!r} (the API key of {whose}) has an empty or non-text "
                f"{' and '.join(empty)}; put the key's values there (Aircall Dashboard, Integrations & API)."), none
    return None, (data["api_id"].strip(), data["api_token"].strip())


_NOT_JSON = object()


class _NoSecretPayloads(logging.Filter):
    """botocore logs response bodies at DEBUG; a GetSecretValue body holds the secret. Such records
    are replaced by a line saying they were withheld."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is withheld too
            message = "SecretString"
        if "SecretString" in message or "SecretBinary" in message or "api_token" in message:
            record.msg, record.args = "(a Secrets Manager response; its body is not logged)", None
        return True


_FILTER = _NoSecretPayloads()
_BOTOCORE_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "botocore.retryhandler",
                     "botocore.httpsession", "botocore.awsrequest", "urllib3.connectionpool")


def _quiet_botocore() -> None:
    for name in _BOTOCORE_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
