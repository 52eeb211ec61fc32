"""The operations Definitions load on their own and against the project's real job and assets."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from aircall_pipeline.definitions import build_defs
from aircall_pipeline.names import (
    FAILED_CHECK_SENSOR,
    FRESHNESS_SENSOR,
    REVIEWS_SENSOR,
    RUN_FAILURE_SENSOR,
    SCHEDULE_FAILURE_SENSOR,
    SINGLE_ACCOUNT,
    TAMPER_SENSOR,
)
from aircall_pipeline.operations.freshness import EVIDENCE_FRESHNESS_POLICY, EVIDENCE_KEY
from aircall_pipeline.settings import Settings

# A tick of today: its day (yesterday) is inside the API's history horizon whenever the tests run.
TODAY_0215 = datetime.now(UTC).replace(hour=2, minute=15, second=0, microsecond=0)


def test_operations_defs_hold_the_schedule_sensors_and_history_job():
    operations_defs = build_defs(Settings.defaults())
    assert [s.name for s in operations_defs.schedules] == [SINGLE_ACCOUNT.schedule]
    names = {s.name for s in operations_defs.sensors}
    assert names == {RUN_FAILURE_SENSOR, FAILED_CHECK_SENSOR, FRESHNESS_SENSOR, SCHEDULE_FAILURE_SENSOR, REVIEWS_SENSOR,
                     TAMPER_SENSOR}
    for sensor in operations_defs.sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.fixture
def project_defs() -> dg.Definitions:
    """The root definitions, built afresh: contexts built on a Definitions object bind a weak
    reference to their instance, so the module-level `defs` is not shared with instance-bound tests."""
    return build_defs(Settings.from_env())


def test_merged_definitions_are_loadable(project_defs):
    dg.Definitions.validate_loadable(project_defs)
    assert project_defs.resolve_job_def(SINGLE_ACCOUNT.daily_job)
    history = project_defs.resolve_job_def(SINGLE_ACCOUNT.history_job)
    assert {k.to_user_string() for k in history.asset_layer.selected_asset_keys} == {"aircall/calls",
                                                                                      "aircall/call_windows"}
    assert project_defs.resolve_asset_graph().get(EVIDENCE_KEY).freshness_policy == EVIDENCE_FRESHNESS_POLICY


def test_real_schedule_tick_targets_yesterday_of_the_real_job(project_defs, monkeypatch):
    monkeypatch.setenv("AIRCALL_API_ID", "1234")
    schedule = project_defs.resolve_schedule_def(SINGLE_ACCOUNT.schedule)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=TODAY_0215,
            repository_def=project_defs.get_repository_def(),
        )
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == (TODAY_0215.date() - timedelta(days=1)).isoformat()
    assert request.tags["aircall/account"].endswith("/1234")
