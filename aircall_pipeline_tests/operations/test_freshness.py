"""Freshness: the policy on the report asset, and the sensor alerting once per staleness episode."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from aircall_pipeline.config.settings import Settings
from aircall_pipeline.ingest.partitions import partitions_for
from aircall_pipeline.operations.freshness import (
    EVIDENCE_FRESHNESS_POLICY,
    EVIDENCE_KEY,
    apply_freshness,
)
from aircall_pipeline.operations.freshness_sensor import build_freshness_sensor
from aircall_pipeline_tests.operations.clock import Clock
from aircall_pipeline_tests.partitions import pk, registered

HOUR = 3600.0


@dg.asset(key=EVIDENCE_KEY)
def evidence_report() -> int:
    return 1


# The report as the pipeline partitions it (account x date): the sensor judges each account's own days.
@dg.asset(key=EVIDENCE_KEY, partitions_def=partitions_for(Settings.defaults()))
def account_report() -> int:
    return 1


def seal_report(instance: dg.DagsterInstance) -> None:
    """The single account's report of yesterday, materialized."""
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    dg.materialize([account_report], instance=registered(instance), partition_key=pk(yesterday))


@dg.asset(key=["aircall", "users"])
def users() -> int:
    return 1


def test_policy_windows():
    assert EVIDENCE_FRESHNESS_POLICY.fail_window.to_timedelta() == timedelta(hours=30)
    assert EVIDENCE_FRESHNESS_POLICY.warn_window.to_timedelta() == timedelta(hours=26)


def test_apply_freshness_targets_the_report_and_respects_existing_policies():
    own = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2))
    custom = dg.asset(key=["aircall", "calls"], freshness_policy=own)(lambda: 1)
    defs = apply_freshness(dg.Definitions(assets=[evidence_report, users, custom]))
    graph = defs.resolve_asset_graph()
    assert graph.get(EVIDENCE_KEY).freshness_policy == EVIDENCE_FRESHNESS_POLICY
    assert graph.get(dg.AssetKey(["aircall", "users"])).freshness_policy is None

    everything = apply_freshness(dg.Definitions(assets=[evidence_report, users, custom]),
                                 selection=dg.AssetSelection.all())
    graph = everything.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["aircall", "users"])).freshness_policy == EVIDENCE_FRESHNESS_POLICY
    assert graph.get(dg.AssetKey(["aircall", "calls"])).freshness_policy == own


def _tick(sensor, instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    sensor(context)
    return context.cursor


def test_one_alert_per_staleness_episode(webhook):
    with dg.instance_for_test() as instance:
        seal_report(instance)
        written = instance.fetch_materializations(EVIDENCE_KEY, limit=1).records[0].timestamp
        clock = Clock(written + 1 * HOUR)
        sensor = build_freshness_sensor(clock=clock)

        cursor = _tick(sensor, instance, None)  # fresh
        clock.now = written + 29 * HOUR
        cursor = _tick(sensor, instance, cursor)  # still within 30 h
        assert webhook.received == []

        clock.now = written + 31 * HOUR
        cursor = _tick(sensor, instance, cursor)  # stale: alert
        clock.now = written + 40 * HOUR
        cursor = _tick(sensor, instance, cursor)  # same episode: silent
        assert len(webhook.received) == 1
        alert = webhook.payloads[0]
        assert alert["kind"] == "stale"
        assert "31 h" in alert["title"] and "limit 30 h" in alert["title"]
        assert "aircall/evidence_report" in alert["text"]
        assert alert["run_url"].startswith("http://127.0.0.1:3999/runs/")

        # New evidence ends the episode; when that goes stale too, one more alert.
        seal_report(instance)
        newer = instance.fetch_materializations(EVIDENCE_KEY, limit=1).records[0].timestamp
        clock.now = newer + 2 * HOUR
        cursor = _tick(sensor, instance, cursor)
        clock.now = newer + 30.5 * HOUR
        cursor = _tick(sensor, instance, cursor)
        cursor = _tick(sensor, instance, cursor)
        assert len(webhook.received) == 2


def test_nothing_ever_written_alerts_once_after_the_window(webhook):
    with dg.instance_for_test() as instance:
        clock = Clock(1_800_000_000.0)
        sensor = build_freshness_sensor(clock=clock)
        cursor = _tick(sensor, instance, None)  # starts watching: no alert on a fresh deploy
        clock.now += 31 * HOUR
        cursor = _tick(sensor, instance, cursor)
        cursor = _tick(sensor, instance, cursor)
    assert len(webhook.received) == 1
    assert "No evidence" in webhook.payloads[0]["text"]


def test_apply_freshness_on_a_list_of_assets_and_specs():
    spec = dg.AssetSpec(["aircall", "evidence_report_external"])
    out = apply_freshness([evidence_report, users, spec])
    policies = {a.key.to_user_string(): a.specs_by_key[a.key].freshness_policy
                for a in out if isinstance(a, dg.AssetsDefinition)}
    assert policies == {"aircall/evidence_report": EVIDENCE_FRESHNESS_POLICY, "aircall/users": None}
    assert out[2].freshness_policy is None


def test_the_policy_freshness_max_age_drives_the_sensor(webhook, tmp_path, monkeypatch):
    policy = tmp_path / "policy.yaml"
    policy.write_text("freshness_max_age_hours: 6\n")
    monkeypatch.setenv("AIRCALL_POLICY_FILE", str(policy))
    with dg.instance_for_test() as instance:
        seal_report(instance)
        written = instance.fetch_materializations(EVIDENCE_KEY, limit=1).records[0].timestamp
        clock = Clock(written + 5.5 * HOUR)
        # The sensor reads each account's policy file at every tick (AIRCALL_POLICY_FILE here).
        sensor = build_freshness_sensor(clock=clock)
        cursor = _tick(sensor, instance, None)
        assert webhook.received == []
        clock.now = written + 7 * HOUR  # well within the default 30 h, beyond the policy's 6 h
        _tick(sensor, instance, cursor)
    assert len(webhook.received) == 1
    assert "limit 6 h" in webhook.payloads[0]["title"]
    assert webhook.payloads[0]["details"]["max_age_hours"] == 6
