"""The retry policy on real materializations: an auth error runs once, a server error is retried."""

import dagster as dg
import pytest

from aircall_pipeline.aircall.errors import AircallAuthError, AircallRequestError, AircallServerError
from aircall_pipeline.ingest.retry import (
    API_RETRY_POLICY,
    as_failure,
    no_retry_on_auth_error,
    raise_without_retry,
)
from aircall_pipeline_tests.operations import jobs
from aircall_pipeline_tests.operations.jobs import PARTITION


@pytest.fixture(autouse=True)
def _reset_attempts():
    jobs.ATTEMPTS.clear()


def _steps(result, event_type):
    return [e for e in result.all_events if e.event_type == event_type]


def test_policy_is_exponential_with_jitter():
    assert API_RETRY_POLICY.max_retries >= 2
    assert API_RETRY_POLICY.backoff == dg.Backoff.EXPONENTIAL
    assert API_RETRY_POLICY.jitter is not None
    assert API_RETRY_POLICY.delay and API_RETRY_POLICY.delay >= 10


def test_auth_error_runs_once_even_with_a_retry_policy():
    with dg.instance_for_test() as instance:
        result = dg.materialize([jobs.revoked_key_users], instance=instance, partition_key=PARTITION,
                                raise_on_error=False)
    assert not result.success
    assert jobs.ATTEMPTS["auth"] == 1
    assert _steps(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    failure = _steps(result, dg.DagsterEventType.STEP_FAILURE)[0].event_specific_data
    assert failure.user_failure_data.metadata["error_class"].value == "AircallAuthError"
    assert failure.user_failure_data.metadata["status"].value == 401
    assert failure.error.cause.cls_name == "AircallAuthError"  # the class survives for the sensor


def test_auth_error_in_a_generator_body_is_not_retried_either():
    with dg.instance_for_test() as instance:
        result = dg.materialize([jobs.generator_auth_numbers], instance=instance, partition_key=PARTITION,
                                raise_on_error=False)
    assert not result.success
    assert jobs.ATTEMPTS["generator_auth"] == 1


def test_server_error_is_retried_then_succeeds():
    with dg.instance_for_test() as instance:
        result = dg.materialize([jobs.flaky_teams], instance=instance, partition_key=PARTITION,
                                raise_on_error=False)
    assert result.success
    assert jobs.ATTEMPTS["server"] == 3
    assert len(_steps(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 2


def test_rate_limit_exhaustion_is_retried_up_to_the_limit_and_keeps_reset_at():
    with dg.instance_for_test() as instance:
        result = dg.materialize([jobs.exhausted_calls], instance=instance, partition_key=PARTITION,
                                raise_on_error=False)
    assert not result.success
    assert jobs.ATTEMPTS["rate_limit"] == 1 + jobs.FAST_RETRY.max_retries
    failure = _steps(result, dg.DagsterEventType.STEP_FAILURE)[0].event_specific_data
    assert failure.user_failure_data.metadata["reset_at"].value == jobs.RESET_AT


def test_failure_conversion():
    assert as_failure(AircallAuthError("401", status=401)).allow_retries is False
    assert as_failure(AircallRequestError("400 bad date", status=400)).allow_retries is False
    assert as_failure(AircallServerError("503", status=503)).allow_retries is True
    with pytest.raises(dg.Failure) as raised:
        try:
            raise AircallServerError("boom")
        except AircallServerError as exc:
            raise_without_retry(exc)
    assert raised.value.allow_retries is False
    assert isinstance(raised.value.__cause__, AircallServerError)


def test_decorator_keeps_the_signature_and_passes_other_errors_through():
    @no_retry_on_auth_error
    def body(context, aircall):
        raise KeyError("not an Aircall error")

    import inspect

    assert list(inspect.signature(body).parameters) == ["context", "aircall"]
    with pytest.raises(KeyError):
        body(None, None)
