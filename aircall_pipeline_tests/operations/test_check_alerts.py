"""The check-result alert: one alert per successful run, reminders of configuration skips once a
week. Real runs in a real (temporary) instance, the sensor ticked as the daemon ticks it, alerts
received by a live webhook receiver on loopback."""

import json
from datetime import timedelta

import dagster as dg
import pytest

from aircall_pipeline.operations.check_alerts import REMINDER_INTERVAL
from aircall_pipeline.operations.check_sensor import build_failed_check_alert_sensor
from aircall_pipeline_tests.operations import jobs
from aircall_pipeline_tests.operations.clock import Clock
from aircall_pipeline_tests.operations.jobs import PARTITION, SECRET_TOKEN

ACCOUNT = "api.aircall.io/ac-id-4242"
DAY = timedelta(days=1).total_seconds()
T0 = 1_780_000_000.0


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def ticker(instance, clock):
    """Tick the sensor with the cursor it left last time, as the daemon does."""
    sensor = build_failed_check_alert_sensor(clock=clock)
    state = {"cursor": None}

    def tick() -> str | None:
        context = dg.build_sensor_context(instance=instance, cursor=state["cursor"])
        sensor(context)
        state["cursor"] = context.cursor
        return context.cursor

    tick()  # the first tick starts watching from now
    return tick


def _run(instance, asset) -> str:
    result = dg.materialize([asset], instance=instance, partition_key=PARTITION,
                            tags={"aircall/account": ACCOUNT})
    assert result.success, "non-blocking check results leave the run green"
    return result.run_id


def test_a_normal_day_gets_one_alert_naming_the_checks(instance, ticker, webhook):
    run_id = _run(instance, jobs.a_normal_day)
    ticker()
    assert len(webhook.received) == 1, [p["title"] for p in webhook.payloads]
    alert = webhook.payloads[0]
    assert alert["title"].startswith("AC-05 fail, AC-08 warn; 3 skipped")
    assert PARTITION in alert["title"]
    assert alert["kind"] == "check_failed" and alert["severity"] == "error"
    # The top items of each check, not all 30.
    assert "user-4@northwind.example" in alert["text"] and "user-5@northwind.example" not in alert["text"]
    assert "top 5 of 30" in alert["text"]
    assert [c["id"] for c in alert["details"]["checks"]] == ["AC-05", "AC-08", "AC-02", "AC-03", "AC-06"]
    # Links to the run and to the day's report, in Slack's link syntax.
    assert f"<http://127.0.0.1:3999/runs/{run_id}|Run>" in alert["text"]
    assert f"<http://127.0.0.1:3999/assets/aircall/evidence_report?partition={PARTITION}|Report>" in alert["text"]
    assert SECRET_TOKEN not in webhook.raw

    ticker()  # the same run is never alerted twice
    assert len(webhook.received) == 1


def test_configuration_skips_are_reminded_once_a_week(instance, ticker, clock, webhook):
    _run(instance, jobs.a_normal_day)
    ticker()
    assert webhook.payloads[-1]["title"].startswith("AC-05 fail, AC-08 warn; 3 skipped")

    clock.now += DAY  # the next day: the missing roles file and roster are not news
    _run(instance, jobs.a_normal_day)
    ticker()
    assert webhook.payloads[-1]["title"].startswith("AC-05 fail, AC-08 warn; 1 skipped")
    assert "AC-02" not in webhook.payloads[-1]["text"]

    clock.now += DAY  # a day with nothing but those skips sends nothing
    _run(instance, jobs.only_configuration_missing)
    ticker()
    assert len(webhook.received) == 2

    clock.now = T0 + REMINDER_INTERVAL.total_seconds()  # a week after the first reminder
    _run(instance, jobs.only_configuration_missing)
    cursor = ticker()
    assert len(webhook.received) == 3
    reminder = webhook.payloads[-1]
    assert reminder["title"].startswith("2 skipped") and reminder["severity"] == "info"
    assert "roles_uri" in reminder["text"] and "roster_uri" in reminder["text"]
    assert json.loads(cursor)["reminded"] == {f"{ACCOUNT}|AC-02": clock.now, f"{ACCOUNT}|AC-03": clock.now}


def test_a_configured_input_that_goes_missing_again_is_news_at_once(instance, ticker, clock, webhook):
    _run(instance, jobs.only_configuration_missing)
    ticker()
    clock.now += DAY
    _run(instance, jobs.roster_configured)  # the roster was configured: AC-03 ran
    cursor = ticker()
    assert len(webhook.received) == 1 and f"{ACCOUNT}|AC-03" not in json.loads(cursor)["reminded"]
    clock.now += DAY
    _run(instance, jobs.only_configuration_missing)  # and removed again the next day
    ticker()
    assert len(webhook.received) == 2 and webhook.payloads[-1]["title"].startswith("1 skipped")
    assert "AC-03" in webhook.payloads[-1]["text"]


def test_runs_before_the_sensor_started_are_not_alerted(instance, clock, webhook):
    _run(instance, jobs.a_normal_day)
    sensor = build_failed_check_alert_sensor(clock=clock)
    context = dg.build_sensor_context(instance=instance, cursor=None)
    sensor(context)
    assert webhook.received == []
    assert json.loads(context.cursor)["after"] >= 0


def test_min_severity_keeps_reminders_out_of_the_webhook(instance, ticker, webhook, monkeypatch):
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "warning")
    _run(instance, jobs.only_configuration_missing)
    ticker()
    assert webhook.received == []  # an info reminder: in the sensor's log only
    _run(instance, jobs.a_normal_day)
    ticker()
    assert len(webhook.received) == 1


def test_the_previous_run_status_sensor_cursor_is_taken_over(instance, clock, webhook):
    """After an upgrade the daemon still holds the cursor of the run-status sensor this one replaced."""
    from dagster._core.definitions.run_status_sensor_definition import RunStatusSensorCursor

    latest = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_SUCCESS, limit=1).records
    old = RunStatusSensorCursor(record_id=latest[0].storage_id if latest else -1, record_timestamp=None).to_json()
    _run(instance, jobs.a_normal_day)  # succeeds between the old sensor's last tick and the new one's first
    sensor = build_failed_check_alert_sensor(clock=clock)
    sensor(dg.build_sensor_context(instance=instance, cursor=old))
    assert len(webhook.received) == 1
