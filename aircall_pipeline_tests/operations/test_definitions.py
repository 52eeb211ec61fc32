"""The operations Definitions load on their own and against the project's real job and assets."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from aircall_pipeline.operations.definitions import build_operations_defs
from aircall_pipeline.operations.freshness import EVIDENCE_FRESHNESS_POLICY, EVIDENCE_KEY
from aircall_pipeline.operations.schedules import CALL_HISTORY_JOB_NAME
from aircall_pipeline.operations.sensors import (
    EVIDENCE_JOB_NAME,
    EVIDENCE_SCHEDULE_NAME,
    FAILED_CHECK_SENSOR_NAME,
    FRESHNESS_SENSOR_NAME,
    RUN_FAILURE_SENSOR_NAME,
    SCHEDULE_FAILURE_SENSOR_NAME,
)
from aircall_pipeline.settings import Settings


def test_operations_defs_hold_the_schedule_sensors_and_history_job():
    operations_defs = build_operations_defs(Settings.defaults())
    assert [s.name for s in operations_defs.schedules] == [EVIDENCE_SCHEDULE_NAME]
    names = {s.name for s in operations_defs.sensors}
    assert names == {RUN_FAILURE_SENSOR_NAME, FAILED_CHECK_SENSOR_NAME, FRESHNESS_SENSOR_NAME,
                     SCHEDULE_FAILURE_SENSOR_NAME}
    for sensor in operations_defs.sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


@pytest.fixture
def project_defs() -> dg.Definitions:
    """The root definitions, built afresh: contexts built on a Definitions object bind a weak
    reference to their instance, so the module-level `defs` is not shared with instance-bound tests."""
    from aircall_pipeline.definitions import build_defs

    return build_defs(Settings.from_env())


def test_merged_definitions_are_loadable(project_defs):
    dg.Definitions.validate_loadable(project_defs)
    assert project_defs.resolve_job_def(EVIDENCE_JOB_NAME)
    history = project_defs.resolve_job_def(CALL_HISTORY_JOB_NAME)
    assert {k.to_user_string() for k in history.asset_layer.selected_asset_keys} == {"aircall/calls",
                                                                                      "aircall/call_windows"}
    assert project_defs.resolve_asset_graph().get(EVIDENCE_KEY).freshness_policy == EVIDENCE_FRESHNESS_POLICY


def test_real_schedule_tick_targets_yesterday_of_the_real_job(project_defs, monkeypatch):
    monkeypatch.setenv("AIRCALL_API_ID", "1234")
    schedule = project_defs.resolve_schedule_def(EVIDENCE_SCHEDULE_NAME)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 3, 10, 2, 15, tzinfo=UTC),
            repository_def=project_defs.get_repository_def(),
        )
        [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-03-09"
    assert request.tags["aircall/account"].endswith("/1234")
