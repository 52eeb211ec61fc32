"""Failure alerts grouped across accounts (alert_groups.py), and the run-failure sensor that
buffers failures for ALERT_GROUP_WAIT_SECONDS in its cursor (failure_sensor.py)."""

import json

import dagster as dg
import pytest

from aircall_pipeline.operations.alert_groups import (
    DEFAULT_GROUP_WAIT_SECONDS,
    GROUP_WAIT_VAR,
    MAX_LISTED,
    PendingAlerts,
    group_wait_seconds,
)
from aircall_pipeline.operations.alerts import Alert, scrub_alert
from aircall_pipeline.operations.failure_sensor import FailureAlertCursor, build_run_failure_alert_sensor
from aircall_pipeline.operations.run_alerts import alert_for_failed_run
from aircall_pipeline_tests.operations import jobs
from aircall_pipeline_tests.operations.clock import Clock
from aircall_pipeline_tests.operations.jobs import PARTITION, SECRET_TOKEN

T0 = 1_780_000_000.0
AUTH_HEADLINE = "the Aircall API key was rejected (401/403)"


def failure(account: str, *, kind: str = "auth", severity: str = "critical", partition: str = "2026-03-10",
            run_id: str | None = None) -> Alert:
    run_id = run_id or f"run-{account}-{partition}"
    return Alert(
        title=f"Aircall evidence run of account {account} failed for {partition}: {AUTH_HEADLINE}",
        severity=severity, kind=kind, text=f"The Aircall API key was rejected (401/403).\nError in step users: {account}",
        run_id=run_id, run_url=f"http://127.0.0.1:3999/runs/{run_id}",
        details={"job": "aircall_daily_evidence", "run_id": run_id, "partition": partition, "account": account,
                 "failed_steps": ["users"]},
    )


def pending(**kwargs) -> PendingAlerts:
    return PendingAlerts(group_wait=kwargs.pop("group_wait", 30), **kwargs)


# --------------------------------------------------------------------------------------------------
# Grouping


def test_one_account_gets_its_own_alert_unchanged():
    groups = pending()
    alert = failure("acme")
    groups.add(alert, "acme", T0, headline=AUTH_HEADLINE)
    assert groups.due(T0 + 29) == []
    assert groups.due(T0 + 30) == [alert]
    assert groups.due(T0 + 60) == []  # sent once


def test_three_accounts_of_one_kind_within_the_wait_get_one_alert_listing_them():
    groups = pending()
    for i, account in enumerate(["charlie", "alpha", "bravo"]):
        groups.add(failure(account, severity="error" if account != "bravo" else "critical"), account, T0 + i * 10,
                   headline=AUTH_HEADLINE)
    [alert] = groups.due(T0 + 30)
    assert alert.title == f"3 accounts failed: {AUTH_HEADLINE}"
    assert alert.kind == "auth" and alert.severity == "critical"  # the most severe of the group
    assert alert.details["accounts"] == ["alpha", "bravo", "charlie"]
    assert alert.details["runs"] == ["run-alpha-2026-03-10", "run-bravo-2026-03-10", "run-charlie-2026-03-10"]
    lines = alert.text.splitlines()
    listed = [line for line in lines if line.startswith("• ")]
    assert listed == [f"• {a} — 2026-03-10 — run run-{a}-2026-03-10" for a in ("alpha", "bravo", "charlie")]
    assert "The first failure (charlie) said" in alert.text
    assert [label for label, _ in alert.links] == [f"Run {a} 2026-03-10" for a in ("alpha", "bravo", "charlie")]
    assert alert.links[0][1] == "http://127.0.0.1:3999/runs/run-alpha-2026-03-10"
    assert len(groups) == 0


def test_two_kinds_give_two_alerts():
    groups = pending()
    for account in ("a", "b"):
        groups.add(failure(account), account, T0)
    for account in ("c", "d", "e"):
        groups.add(failure(account, kind="s3"), account, T0 + 1)
    alerts = groups.due(T0 + 31)
    assert [(a.kind, a.details["accounts"]) for a in alerts] == [("auth", ["a", "b"]), ("s3", ["c", "d", "e"])]
    assert alerts[1].title == "3 accounts failed: the evidence store (S3) failed"  # no headline given: the kind's


def test_group_by_severity_too_splits_a_kind():
    groups = pending(group_by=("kind", "severity"))
    groups.add(failure("a", severity="error"), "a", T0)
    groups.add(failure("b", severity="critical"), "b", T0)
    assert sorted(a.run_id for a in groups.due(T0 + 30)) == ["run-a-2026-03-10", "run-b-2026-03-10"]
    with pytest.raises(ValueError, match="group_by"):
        PendingAlerts(group_by=("account",))


def test_an_arrival_after_the_wait_starts_a_new_group():
    groups = pending()
    groups.add(failure("a"), "a", T0)
    groups.add(failure("b"), "b", T0 + 5)
    [first] = groups.due(T0 + 30)
    assert first.details["accounts"] == ["a", "b"]
    late = failure("c")
    groups.add(late, "c", T0 + 40)
    assert groups.due(T0 + 60) == []  # its own group waits its own group_wait
    assert groups.due(T0 + 70) == [late]


def test_one_account_failing_two_days_is_one_account_two_runs():
    groups = pending()
    groups.add(failure("a", partition="2026-03-09"), "a", T0)
    groups.add(failure("a", partition="2026-03-10"), "a", T0)
    [alert] = groups.due(T0 + 30)
    assert alert.title.startswith("1 account failed (2 runs): ")
    assert alert.details["accounts"] == ["a"] and alert.details["partitions"] == ["2026-03-09", "2026-03-10"]


def test_a_wait_of_zero_sends_what_arrived_in_the_tick_still_grouped():
    groups = pending(group_wait=0)
    for account in ("a", "b"):
        groups.add(failure(account), account, T0)
    [alert] = groups.due(T0)
    assert alert.details["accounts"] == ["a", "b"]


def test_a_thousand_accounts_stay_readable():
    groups = pending()
    accounts = [f"acct-{i:04d}" for i in range(1000)]
    for account in reversed(accounts):
        groups.add(failure(account, kind="other", severity="error"), account, T0)
    [alert] = groups.due(T0 + 30)
    assert alert.title.startswith("1000 accounts failed: ")
    listed = [line for line in alert.text.splitlines() if line.startswith("• ")]
    assert len(listed) == MAX_LISTED and listed[0].startswith("• acct-0000 ")
    assert f"… and {1000 - MAX_LISTED} more" in alert.text
    assert len(alert.links) == MAX_LISTED
    assert alert.details["accounts"] == accounts and len(alert.details["runs"]) == 1000
    assert len(alert.as_mrkdwn()) < 12_000  # one Slack message, not a wall


def test_the_group_alert_is_scrubbed_and_escaped():
    groups = pending()
    groups.add(failure("<!channel>"), "<!channel>", T0)
    bad = failure("b")
    bad = Alert(**{**bad.__dict__, "text": f"token={SECRET_TOKEN} at https://u:p@evil.invalid/x"})
    groups.add(bad, "b", T0)
    [alert] = groups.due(T0 + 30)
    text = scrub_alert(alert).as_mrkdwn()
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert SECRET_TOKEN not in text and "u:p@" not in text


def test_the_pending_state_round_trips_through_the_cursor():
    groups = pending()
    first = failure("a")
    groups.add(first, "a", T0, headline=AUTH_HEADLINE)
    groups.add(failure("b"), "b", T0 + 3, headline=AUTH_HEADLINE)
    groups.add(failure("s", kind="s3"), "s", T0 + 4)
    raw = FailureAlertCursor(42, groups.to_json()).dump()
    state = FailureAlertCursor.parse(raw)
    assert state is not None and state.after == 42
    again = PendingAlerts.from_json(state.pending, group_wait=30)
    assert len(again) == 3
    assert again.due(T0 + 30) == groups.due(T0 + 30)
    assert again.due(T0 + 34) == groups.due(T0 + 34)
    # A lone member comes back as the very alert it was.
    single = pending()
    single.add(first, "a", T0)
    back = PendingAlerts.from_json(json.loads(json.dumps(single.to_json())), group_wait=30)
    assert back.due(T0 + 30) == [first]


@pytest.mark.parametrize("raw", ["", "not json", "[]", '{"pending": []}', '{"after": "x"}', "null", "17"])
def test_a_cursor_that_cannot_be_read_starts_afresh(raw):
    assert FailureAlertCursor.parse(raw) is None


def test_an_unreadable_group_is_dropped_not_the_state():
    state = FailureAlertCursor.parse(json.dumps({"after": 7, "pending": [{"key": ["auth"]}, "junk"]}))
    assert state is not None and state.after == 7
    assert len(PendingAlerts.from_json(state.pending)) == 0
    assert FailureAlertCursor.parse(json.dumps({"after": 7, "pending": "junk"})).pending == []
    # The cursor the run_failure_sensor of the same name left: its record id is where to go on from.
    old = json.dumps({"__class__": "RunStatusSensorCursor", "record_id": 12, "update_timestamp": "x"})
    assert FailureAlertCursor.parse(old).after == 12


def test_the_group_wait_variable():
    assert group_wait_seconds({}) == DEFAULT_GROUP_WAIT_SECONDS == 30
    assert group_wait_seconds({GROUP_WAIT_VAR: "0"}) == 0
    assert group_wait_seconds({GROUP_WAIT_VAR: "120"}) == 120
    for bad in ("-1", "soon", "inf", "nan"):
        assert group_wait_seconds({GROUP_WAIT_VAR: bad}) == 30


# --------------------------------------------------------------------------------------------------
# The sensor, on real failed runs


def _fail(instance, asset, account: str) -> str:
    result = dg.materialize([asset], instance=instance, partition_key=PARTITION, raise_on_error=False,
                            tags={"aircall/account": account})
    assert not result.success
    return result.run_id


@dg.asset(key=["aircall", "teams"], partitions_def=jobs.PARTITIONS)
def teams_refused(context: dg.AssetExecutionContext) -> int:
    from aircall_pipeline.aircall.errors import AircallRequestError

    raise AircallRequestError("400 from GET /v1/teams: bad filter", status=400, endpoint="/v1/teams")


def test_three_accounts_failing_together_get_one_alert_and_a_lone_one_its_own(instance, webhook, monkeypatch):
    monkeypatch.delenv(GROUP_WAIT_VAR, raising=False)  # the default wait: 30 s
    clock = Clock(T0)
    sensor = build_run_failure_alert_sensor(clock=clock)
    cursor = {"value": None}

    def tick() -> None:
        context = dg.build_sensor_context(instance=instance, cursor=cursor["value"])
        sensor(context)
        cursor["value"] = context.cursor

    tick()  # the first tick starts watching from now
    runs = {account: _fail(instance, jobs.revoked_key_users, account) for account in ("c", "a", "b")}
    lone = _fail(instance, teams_refused, "d")
    retried = dg.materialize([jobs.revoked_key_users], instance=instance, partition_key=PARTITION,
                             raise_on_error=False, tags={"aircall/account": "e", "dagster/will_retry": "true"})

    tick()  # read at T0: every failure waits for others of its kind
    assert webhook.received == []
    assert len(json.loads(cursor["value"])["pending"]) == 2  # two groups: auth, other

    clock.now = T0 + 31
    tick()
    assert len(webhook.received) == 2, [p["title"] for p in webhook.payloads]
    by_kind = {p["kind"]: p for p in webhook.payloads}
    grouped = by_kind["auth"]
    assert grouped["title"] == f"3 accounts failed: {AUTH_HEADLINE}"
    assert grouped["details"]["accounts"] == ["a", "b", "c"]
    assert grouped["details"]["runs"] == [runs["a"], runs["b"], runs["c"]]
    for account in ("a", "b", "c"):
        assert f"• {account} — {PARTITION} — run {runs[account]}" in grouped["text"]
        assert f"http://127.0.0.1:3999/runs/{runs[account]}" in grouped["text"]
    assert "e" not in grouped["details"]["accounts"] and retried.run_id not in json.dumps(grouped)

    own = by_kind["other"]
    expected = alert_for_failed_run(instance, instance.get_run_by_id(lone))
    assert own["run_id"] == lone and own["details"]["account"] == "d"
    assert own["title"] == expected.title and own["message"] == expected.text
    assert own["details"] == json.loads(json.dumps(dict(expected.details)))
    assert SECRET_TOKEN not in webhook.raw

    for later in (62, 93):  # nothing is ever sent twice
        clock.now = T0 + later
        tick()
    assert len(webhook.received) == 2
    assert json.loads(cursor["value"])["pending"] == []
