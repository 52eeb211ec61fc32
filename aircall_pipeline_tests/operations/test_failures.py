"""The failure classification reads structured facts (evaluations, Failure metadata), never the
wording of an error message: a message that says something else changes nothing."""

import dagster as dg

from aircall_pipeline.ingest import retry
from aircall_pipeline.operations import failures
from aircall_pipeline.operations.failures import ErrorLink, RunFailureFacts, diagnose

RESET_AT = 1773112000.0


def _evaluation(name: str, *, blocking: bool, check_id: str | None = None) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["aircall", name]), check_name=name, passed=False, blocking=blocking,
        metadata={"check_id": check_id} if check_id else {},
    )


def test_blocking_checks_come_from_the_evaluations_not_the_error_text():
    # Dagster's message names a check that is not among the evaluations: it must not be believed.
    link = ErrorLink("DagsterAssetCheckFailedError",
                     "1 blocking asset check failed with ERROR severity:\naircall/other: not_this_one", "step")
    facts = RunFailureFacts(links=[link], failed_checks=[
        _evaluation("user_inventory", blocking=True, check_id="AC-01"),
        _evaluation("dormant_accounts", blocking=False),
    ])
    diagnosis = diagnose(facts)
    assert diagnosis.kind == "check_failed"
    assert diagnosis.details["failed_checks"] == ["user_inventory on aircall/user_inventory"]
    assert diagnosis.details["failed_check_ids"] == ["AC-01"]
    assert "not_this_one" not in diagnosis.headline and "not_this_one" not in diagnosis.advice
    assert diagnosis.also_failed == ("dormant_accounts on aircall/dormant_accounts",)


def test_reset_time_comes_from_the_failure_metadata_only():
    link = ErrorLink("AircallRateLimitError", "429 on /v1/calls; resets at 2030-01-01T00:00:00Z", "calls")
    without = diagnose(RunFailureFacts(links=[link]))
    assert without.details["reset_at"] is None, "a time in the message text is not a fact"
    with_metadata = diagnose(RunFailureFacts(links=[link], failure_metadata=[
        {retry.ERROR_CLASS_KEY: "AircallRateLimitError", retry.RESET_AT_KEY: RESET_AT}]))
    assert with_metadata.details["reset_at"] == failures.iso_utc(RESET_AT)
