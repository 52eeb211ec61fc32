"""Several accounts, one deployment, scheduled by the deployment itself: the real sensor daemon's
iterations over the project's code location (a gRPC code server started once for the whole test)
register the accounts of the accounts file, the one scheduler launches each account's previous
local day, and the runs execute in run workers launched by the instance's DefaultRunLauncher.

- three sandbox accounts with their own data, timezones and keys, one of them revoked: each healthy
  one seals its own verified chain, once, whatever the every-minute cron; the revoked one fails
  alone and its alert names it;
- an account added to the file while the code server runs gets its day sealed without a reload.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.ingest.partitions import account_of_key, day_of
from aircall_pipeline.ingest.timing import CALLS_SETTLE
from aircall_pipeline.names import ACCOUNTS_PARTITIONS, DAILY_JOB, PARTITION_TAG
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.owner_files import write_owner_files
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.operations.sensor_daemon import sensor_daemon

# Zones spread around the world; the test takes those whose previous local day is already final.
ZONES = ("Pacific/Auckland", "Asia/Tokyo", "Asia/Kolkata", "Europe/Paris", "UTC", "America/Sao_Paulo",
         "America/New_York", "America/Los_Angeles", "Pacific/Honolulu")
REVOKED_TOKEN = "tok-revoked-9d2e-SECRET"  # noqa: S105 - a test value, searched for in every output


def settled_zones(now: datetime, n: int) -> list[str]:
    """`n` distinct zones in which the previous local day has settled (local time past midnight plus
    the settle margin), so an every-minute cron makes it due right away."""
    zones = []
    for zone in ZONES:
        local = now.astimezone(ZoneInfo(zone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if local >= midnight + CALLS_SETTLE + timedelta(minutes=5):
            zones.append(zone)
    if len(zones) < n:
        pytest.skip(f"fewer than {n} of the test's zones are past their settle margin right now")
    return zones[:n]


def previous_day(zone: str) -> str:
    return (datetime.now(ZoneInfo(zone)).date() - timedelta(days=1)).isoformat()


def wait_for_runs(instance: dg.DagsterInstance, count: int, timeout: float = 300) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + timeout
    while True:
        runs = instance.get_runs(dg.RunsFilter(job_name=DAILY_JOB))
        if len(runs) >= count and all(r.is_finished for r in runs):
            return runs
        if time.monotonic() > deadline:
            states = [(r.tags.get(PARTITION_TAG), r.status.value) for r in runs]
            raise AssertionError(f"expected {count} finished runs, have {states}")
        time.sleep(1)


def runs_by_account(runs: list[dg.DagsterRun]) -> dict[str, list[dg.DagsterRun]]:
    out: dict[str, list[dg.DagsterRun]] = {}
    for run in runs:
        out.setdefault(account_of_key(run.tags[PARTITION_TAG]), []).append(run)
    return out


@pytest.fixture
def fleet(make_sandbox, tmp_path, monkeypatch):
    """Three accounts on three sandboxes (seeded differently), `gamma`'s key revoked; a fourth
    sandbox (`delta`) is running, not yet in the file. Returns (accounts file, entries, zones)."""
    zones = dict(zip(("alpha", "beta", "gamma", "delta"), settled_zones(datetime.now(UTC), 4), strict=True))
    entries: dict[str, str] = {}
    base = None
    for i, name in enumerate(zones):
        data = SandboxAccount(seed=40 + i, calls=120 + 40 * i, days=4, users=6 + i)
        server = make_sandbox(account=data, api_id=f"id-{name}", api_token=f"tok-{name}", rate_limit=600,
                              window_seconds=6)
        values = deployment_env(server, data, tmp_path, api_id=f"id-{name}", api_token=f"tok-{name}")
        base = base or values
        owner = write_owner_files(data, tmp_path / "inputs" / name)
        upper = name.upper()
        monkeypatch.setenv(f"AIRCALL_{upper}_API_ID", f"id-{name}")
        monkeypatch.setenv(f"AIRCALL_{upper}_API_TOKEN", REVOKED_TOKEN if name == "gamma" else f"tok-{name}")
        entries[name] = "\n".join([
            f"  - name: {name}", f"    api_url: {server.url}",
            f"    api_id_env: AIRCALL_{upper}_API_ID", f"    api_token_env: AIRCALL_{upper}_API_TOKEN",
            f"    evidence_uri: {tmp_path / 'evidence' / name}", f"    timezone: {zones[name]}",
            '    schedule_cron: "* * * * *"', "    rate_limit_per_minute: 600",
            f"    roles_uri: {owner['AIRCALL_ROLES_URI']}", f"    roster_uri: {owner['AIRCALL_ROSTER_URI']}",
            f"    policy_file: {owner['AIRCALL_POLICY_FILE']}"])
    for name in ("EVIDENCE_SIGNING_KEY", "EVIDENCE_PUBLIC_KEY", "AIRCALL_LIMITER_URL",
                 "AIRCALL_RATE_LIMIT_WINDOW_SECONDS"):
        monkeypatch.setenv(name, base[name])
    for name in ("AIRCALL_API_ID", "AIRCALL_API_TOKEN", "AIRCALL_API_URL", "EVIDENCE_URI"):
        monkeypatch.delenv(name, raising=False)
    accounts_file = tmp_path / "accounts.yaml"
    accounts_file.write_text("accounts:\n" + "\n".join(entries[n] for n in ("alpha", "beta", "gamma")) + "\n")
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(accounts_file))
    monkeypatch.setenv("ALERT_GROUP_WAIT_SECONDS", "0")
    return accounts_file, entries, zones, tmp_path


@pytest.mark.slow
def test_one_scheduler_seals_each_account_once_and_a_revoked_one_alerts_alone(fleet, webhook):
    accounts_file, entries, zones, folder = fleet
    # Launched as soon as submitted (the run queue is the daemon's, tested in test_pools.py).
    immediate = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}}
    with dg.instance_for_test(overrides=immediate) as instance, sensor_daemon(instance) as tick:
        tick()  # the registry adds alpha, beta and gamma; the scheduler may already launch them
        assert sorted(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS)) == ["alpha", "beta", "gamma"]
        tick()
        runs = wait_for_runs(instance, 3)
        for _ in range(3):  # the every-minute cron fires again and again: nothing is launched twice
            tick()
        runs = wait_for_runs(instance, 3)
        by_account = runs_by_account(runs)
        assert {a: len(r) for a, r in by_account.items()} == {"alpha": 1, "beta": 1, "gamma": 1}
        for name in ("alpha", "beta"):
            (run,) = by_account[name]
            assert run.status == dg.DagsterRunStatus.SUCCESS, name
            day = day_of(run.tags[PARTITION_TAG])
            assert day == previous_day(zones[name])  # the account's own local calendar day
            store = EvidenceStore.from_uri(str(folder / "evidence" / name))
            assert store.verify(day).ok, store.verify(day).problems
        assert by_account["gamma"][0].status == dg.DagsterRunStatus.FAILURE
        assert not (folder / "evidence" / "gamma").exists() or not any((folder / "evidence" / "gamma").rglob("*.json"))

        tick()  # the run-failure sensor sees gamma's failure (group_wait 0: sent at once)
        tick()
        failures = [p for p in webhook.payloads if p["kind"] in ("auth", "config", "rate_limit", "s3", "other")]
        (alert,) = failures
        assert alert["kind"] == "auth" and "gamma" in alert["title"]
        assert "alpha" not in alert["title"] and "beta" not in alert["title"]
        assert REVOKED_TOKEN not in webhook.raw

        # An account added to the file while the code server runs: registered and sealed, no reload.
        accounts_file.write_text(accounts_file.read_text() + entries["delta"] + "\n")
        tick()
        tick()
        runs = wait_for_runs(instance, 4)
        (delta,) = runs_by_account(runs)["delta"]
        assert delta.status == dg.DagsterRunStatus.SUCCESS
        day = day_of(delta.tags[PARTITION_TAG])
        assert EvidenceStore.from_uri(str(folder / "evidence" / "delta")).verify(day).ok
        assert len(runs) == 4
