"""An account whose users, teams and numbers carry hostile names (the sandbox's `hostile_names`),
through the real daily job in a test instance and the real alert sensors: the CSVs neutralise
formulas, the alerts escape Slack's control sequences, the UI previews render no link, and a
healthy run sends exactly one check alert."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from aircall_pipeline.definitions import build_defs
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import SINGLE_ACCOUNT
from aircall_pipeline.operations.sensors import build_failed_check_alert_sensor
from aircall_pipeline.sandbox.data import HOSTILE_NAMES, SandboxAccount
from aircall_pipeline.settings import Settings
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.operations.jobs import API_ID, BASIC, SECRET_TOKEN

YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHANNEL_PING = HOSTILE_NAMES[0]


@pytest.fixture
def account() -> SandboxAccount:
    return SandboxAccount(seed=11, calls=600, days=10, hostile_names=True)


@pytest.fixture
def env(webhook, make_sandbox, account, tmp_path, monkeypatch) -> dict[str, str]:
    server = make_sandbox(account=account, api_id=API_ID, api_token=SECRET_TOKEN, rate_limit=600, window_seconds=6)
    values = deployment_env(server, account, tmp_path, api_id=API_ID, api_token=SECRET_TOKEN)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def day(env, webhook):
    """The daily job for yesterday in a test instance, with the check sensor watching it."""
    with dg.instance_for_test() as instance:
        check_sensor = build_failed_check_alert_sensor()
        first = dg.build_sensor_context(instance=instance)
        check_sensor(first)  # watching from now on, as the daemon's first tick does
        job = build_defs(Settings.from_env()).resolve_job_def(SINGLE_ACCOUNT.daily_job)
        result = job.execute_in_process(partition_key=YESTERDAY, instance=instance, raise_on_error=False)
        assert result.success
        check_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
        yield instance, result


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_no_csv_cell_starts_with_a_formula_character(env, day):
    evidence = Path(env["EVIDENCE_URI"])
    csvs = sorted(evidence.rglob("*.csv"))
    assert len(csvs) >= 19  # 8 tables and 11 findings tables
    cells = []
    for path in csvs:
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")):
            cells += row
    dangerous = [c for c in cells if c.startswith(FORMULA_START) and not _is_number(c)]
    assert dangerous == []
    users_csv = (evidence / "aircall" / "users" / f"date={YESTERDAY}" / "users.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK(" in users_csv and "'@SUM(1+1)" in users_csv  # the names are there, neutralised
    # Parquet keeps the exact names, and the day still verifies (row counts and hashes).
    store = EvidenceStore.from_uri(env["EVIDENCE_URI"])
    assert set(HOSTILE_NAMES) <= set(store.read_table("users", YESTERDAY)["name"])
    assert set(store.read_table("teams", YESTERDAY)["name"]) <= set(HOSTILE_NAMES)
    assert store.verify(YESTERDAY).ok


def test_a_healthy_run_sends_one_check_alert_with_nothing_raw_from_the_data(day, webhook):
    instance, result = day
    # The run succeeded (the run-failure sensor only sees failed runs); the check sensor spoke once.
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
    assert len(webhook.received) == 1, [p["title"] for p in webhook.payloads]
    alert = webhook.payloads[0]
    assert alert["kind"] == "check_failed" and alert["run_id"] == result.run_id
    assert "AC-08" in alert["title"]  # the empty team, named with the channel ping, is reported
    assert "&lt;!channel&gt; key expired" in alert["text"]
    assert "<!channel>" not in webhook.raw and "<https://" not in webhook.raw  # our own links are http://127.0.0.1
    assert f"<{alert['run_url']}|Run>" in alert["text"]
    assert SECRET_TOKEN not in webhook.raw and BASIC not in webhook.raw


def test_previews_render_no_link_or_image(day):
    from markdown_it import MarkdownIt

    instance, _ = day
    renderer = MarkdownIt("commonmark").enable("table")
    for table in ("users", "teams", "numbers"):
        record = instance.fetch_materializations(dg.AssetKey(["aircall", table]), limit=1).records[0]
        preview = record.asset_materialization.metadata["preview"].value
        html = renderer.render(preview)
        assert "<a " not in html and "<img" not in html, table
        assert "https:" not in preview  # nothing left for GFM to autolink either
