"""How Dagster retries the steps that call Aircall, and which failures it must never retry.

Two layers retry, on purpose. The client (aircall/retry.py) absorbs short faults inside one step: a
429 waits for the budget's reset, a 5xx or dropped connection is retried with backoff. Only what
outlasts that reaches Dagster, where `API_RETRY_POLICY` re-runs the whole step a few times, minutes
apart, for longer outages. A 401/403 is different: the key is wrong or revoked, every retry would
fail the same way (and spend the account's shared budget doing so), so it must stop at once.

Usage on an API-calling asset (the decorator goes *under* `@dg.asset`/`@dg.multi_asset`)::

    @dg.asset(..., pool="aircall_api", retry_policy=API_RETRY_POLICY)
    @no_retry_on_auth_error
    def users(context, aircall): ...

or, inside code that catches the error itself: `raise_without_retry(exc)`.

Every `AircallError` leaving a decorated step becomes a `dg.Failure` chained from the original
exception (`raise ... from exc`), so the failure sensor still finds the class name in the error's
cause chain, and the Failure's metadata carries the structured facts a sensor cannot get from a
serialized traceback: `error_class`, `status`, `endpoint` and, for a 429, `reset_at`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import NoReturn, TypeVar

import dagster as dg

from aircall_pipeline.aircall.errors import AircallAuthError, AircallError, AircallRequestError

# A few attempts, minutes apart (30 s, 60 s, 120 s, each +/- jitter so that parallel backfill
# runs hitting the same outage do not come back in lockstep).
API_MAX_RETRIES = 3
API_RETRY_DELAY_SECONDS = 30.0

# Deterministic failures: the same request with the same key gets the same answer. A 401/403
# (revoked or wrong key) and any other 4xx (the request itself is wrong) are never retried.
NON_RETRYABLE_ERRORS: tuple[type[AircallError], ...] = (AircallAuthError, AircallRequestError)

# Metadata keys on the Failure; the failure classification reads them (operations/failures.py).
ERROR_CLASS_KEY = "error_class"
STATUS_KEY = "status"
ENDPOINT_KEY = "endpoint"
RESET_AT_KEY = "reset_at"

F = TypeVar("F", bound=Callable)


def api_retry_policy(
    max_retries: int = API_MAX_RETRIES, delay_seconds: float = API_RETRY_DELAY_SECONDS
) -> dg.RetryPolicy:
    """The retry policy for steps that call the Aircall API (exponential backoff with jitter)."""
    return dg.RetryPolicy(
        max_retries=max_retries,
        delay=delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


API_RETRY_POLICY = api_retry_policy()


def failure_metadata(exc: BaseException) -> dict[str, object]:
    """The structured facts of an Aircall error, as Failure metadata (no secret is ever in them)."""
    metadata: dict[str, object] = {ERROR_CLASS_KEY: type(exc).__name__}
    status = getattr(exc, "status", None)
    if status is not None:
        metadata[STATUS_KEY] = int(status)
    endpoint = getattr(exc, "endpoint", None)
    if endpoint:
        metadata[ENDPOINT_KEY] = str(endpoint)
    reset_at = getattr(exc, "reset_at", None)
    if reset_at is not None:
        metadata[RESET_AT_KEY] = float(reset_at)
    return metadata


def is_retryable(exc: BaseException) -> bool:
    return not isinstance(exc, NON_RETRYABLE_ERRORS)


def as_failure(exc: AircallError) -> dg.Failure:
    """`exc` as a Dagster Failure: retries allowed unless the error is deterministic (401/403, 4xx)."""
    return dg.Failure(
        description=str(exc) or type(exc).__name__,
        metadata=failure_metadata(exc),
        allow_retries=is_retryable(exc),
    )


def raise_without_retry(exc: BaseException) -> NoReturn:
    """Fail the step now, with no RetryPolicy retry, keeping `exc` as the cause for the sensor."""
    raise dg.Failure(
        description=str(exc) or type(exc).__name__,
        metadata=failure_metadata(exc),
        allow_retries=False,
    ) from exc


def no_retry_on_auth_error(fn: F) -> F:
    """Decorate an asset/op body so that an auth error (or another deterministic 4xx) is never
    retried, while 429 exhaustion, 5xx and connection failures still go through the RetryPolicy.

    Works for plain functions and for generator bodies (multi-assets yielding Outputs); the
    signature is preserved, so Dagster still sees the context and resource parameters.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except AircallError as exc:
                raise as_failure(exc) from exc

        return generator_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AircallError as exc:
            raise as_failure(exc) from exc

    return wrapper  # type: ignore[return-value]
