"""The daily job with broken owner files: a malformed roles or roster CSV gives its checks an `error`
outcome (sealed with the file's error, so re-performance reaches it too) and the rest of the day
still completes; AC-15 is a row of every day's report, measured
against the policy's freshness_max_age_hours like the freshness sensor does."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from aircall_pipeline.compliance.reperform import SAME, reperform_day
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.test_daily_job import API_ID, TOKEN, YESTERDAY, run_day, store_for_env


@pytest.fixture
def env(monkeypatch, tmp_path, make_sandbox) -> dict[str, str]:
    """A deployment pointed at the sandbox (as in test_daily_job.py), owner files included."""
    account = SandboxAccount(seed=11, calls=300, days=3)
    server = make_sandbox(account=account, api_id=API_ID, api_token=TOKEN, rate_limit=600, window_seconds=6)
    values = deployment_env(server, account, tmp_path, api_id=API_ID, api_token=TOKEN)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _checks(env: dict[str, str]) -> dict[str, dict]:
    reports = Path(env["EVIDENCE_URI"]) / "aircall" / "reports" / f"date={YESTERDAY}"
    manifest = json.loads((reports / "manifest.json").read_text())
    checks_file = next(a["path"] for a in manifest["artifacts"] if a["path"].split("/")[-1].startswith("checks"))
    return {c["id"]: c for c in json.loads((Path(env["EVIDENCE_URI"]) / checks_file).read_text())}


def _recorded_checks(result) -> dict[str, dict]:
    """The check records of a run, as the report gathers them (each compliance asset's `check`)."""
    records = {}
    for event in result.get_asset_materialization_events():
        metadata = event.event_specific_data.materialization.metadata
        if "check" in metadata:
            records[metadata["check"].value["id"]] = metadata["check"].value
    return records


def test_malformed_owner_csvs_are_errors_and_the_day_completes_with_ac15(env, tmp_path, monkeypatch):
    Path(env["AIRCALL_ROSTER_URI"]).write_text('email,status\n"person0@example.com,active\nperson1@x.com,left\n')
    Path(env["AIRCALL_ROLES_URI"]).write_text('email,role\nperson0@example.com,"admin"x\n')
    policy = tmp_path / "policy.yaml"
    policy.write_text("freshness_max_age_hours: 6\n")
    monkeypatch.setenv("AIRCALL_POLICY_FILE", str(policy))

    with dg.instance_for_test() as instance:
        first = run_day(instance=instance)
        assert first.success
        assert store_for_env().verify(YESTERDAY).ok
        checks = _checks(env)
        for check_id in ("AC-02", "AC-03", "AC-04"):
            assert checks[check_id]["status"] == "error", checks[check_id]
            assert "not valid CSV" in checks[check_id]["reason"]
        assert checks["AC-01"]["status"] == "pass"
        # AC-15 is in the report; nothing was written before this run in this instance.
        assert checks["AC-15"]["status"] == "skip"
        assert "6 h" in checks["AC-15"]["threshold"]
        # The broken files are sealed with their errors: re-performance reaches the same `error`s.
        store = store_for_env()
        again = reperform_day(store, YESTERDAY, store.read_manifest(YESTERDAY).data)
        assert again.ok, again.lines()
        assert {c.check_id: c.state for c in again.checks}["AC-03"] == SAME

        # A second run measures the first one's report, as the freshness sensor would.
        Path(env["AIRCALL_ROSTER_URI"]).write_text("email,status\nperson0@example.com,active\n")
        second = run_day(instance=instance)
        assert second.success
        checks = _recorded_checks(second)  # what this run's report attempt lists
        assert checks["AC-15"]["status"] == "pass"
        assert 0 <= checks["AC-15"]["observed"] < 6
        assert checks["AC-03"]["status"] != "error"
