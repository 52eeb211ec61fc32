"""How API steps are retried by Dagster, and the one error that must never be.

Short waits (a 429 until the window resets, a 5xx burst) are handled inside the client. A step
retry is the second line: a few minutes later, for faults that outlasted the client's own bounded
retries. A rejected key is not a fault that time heals: retrying it only repeats the 401/403
against the account, so it fails the step at once, without retries, and the failure keeps the
original exception as its cause for the alert sensor.
"""

from __future__ import annotations

import functools
import inspect

import dagster as dg

from aircall_pipeline.aircall.errors import AircallAuthError

API_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _auth_failure(exc: AircallAuthError) -> dg.Failure:
    return dg.Failure(
        description=str(exc),
        metadata={"error_class": type(exc).__name__, "status_code": exc.status or 0},
        allow_retries=False,
    )


def no_retry_on_auth_error(fn):
    """Decorate an asset body (plain or generator) so that AircallAuthError skips step retries."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except AircallAuthError as exc:
                raise _auth_failure(exc) from exc

        return generator_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AircallAuthError as exc:
            raise _auth_failure(exc) from exc

    return wrapper
