"""An account whose users, teams and numbers carry hostile names (the sandbox's `hostile_names`),
through the real daily job in a test instance and the real alert sensors: the CSVs neutralise
formulas, the alerts escape Slack's control sequences, the UI previews render no link, and a
healthy run sends exactly one check alert.

And hostile account names: an account's name is its key in the `aircall_accounts` partitions and
the first half of every partition key (`<account>|<date>`), so a name that could split or extend
a key ('|', ',', spaces, newlines...) is refused when the accounts file is read, and never reaches
the instance: the registry and the scheduler refuse to tick on such a file."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from aircall_pipeline.config.accounts import load_accounts
from aircall_pipeline.config.settings import Settings, SettingsError
from aircall_pipeline.definitions import build_defs, load_defs
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.ingest.partitions import account_of_key, day_of, partition_key, partitions_for
from aircall_pipeline.names import ACCOUNTS_PARTITIONS, DAILY_JOB, REGISTRY_SENSOR, SCHEDULER_SENSOR
from aircall_pipeline.operations.check_sensor import build_failed_check_alert_sensor
from aircall_pipeline.sandbox.data import HOSTILE_NAMES, SandboxAccount
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.operations.jobs import API_ID, BASIC, SECRET_TOKEN
from aircall_pipeline_tests.partitions import pk, registered

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
        job = build_defs(Settings.from_env()).resolve_job_def(DAILY_JOB)
        result = job.execute_in_process(partition_key=pk(YESTERDAY), instance=registered(instance),
                                        raise_on_error=False)
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


# ---- hostile account names ------------------------------------------------------------------------

HOSTILE_ACCOUNT_NAMES = [
    "acme|2026-01-01",  # the partition key's separator: would forge another key's date
    "acme,globex",  # the separator of partition lists (CLI, UI selections)
    "acme eu", "acme\n", "acme\t", " acme",  # whitespace, a trailing newline included
    "Acme", "acme-eu", "acme/eu", "../acme", "acme.eu", "acme*",
    "<!channel>", "=HYPERLINK(1)", "acm\u00e9", "acme\u200b",  # Slack, formulas, look-alikes
    "a" * 32, "1acme", "_acme", "",
]


def accounts_file(path: Path, name: str) -> Path:
    # json.dumps: a YAML double-quoted scalar, so the exact string (newline included) is the name.
    path.write_text(f"accounts:\n  - name: {json.dumps(name)}\n    api_id_env: AIRCALL_X_API_ID\n"
                    "    api_token_env: AIRCALL_X_API_TOKEN\n")
    return path


@pytest.mark.parametrize("name", HOSTILE_ACCOUNT_NAMES)
def test_a_hostile_account_name_is_refused_when_the_file_is_read(tmp_path, name):
    path = accounts_file(tmp_path / "accounts.yaml", name)
    with pytest.raises(SettingsError) as info:
        load_accounts(str(path), Settings.defaults())
    assert f"{path} line 2: account name" in str(info.value) and "must match" in str(info.value)


@pytest.mark.parametrize("name", ["acme|2026-01-01", "acme,globex", "acme\n"])
def test_a_hostile_account_name_never_reaches_the_instance(tmp_path, monkeypatch, name):
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(accounts_file(tmp_path / "accounts.yaml", name)))
    defs = load_defs()  # the code location still loads (every run then fails with `config`)
    dg.Definitions.validate_loadable(defs)
    with dg.instance_for_test() as instance:
        for sensor in (defs.resolve_sensor_def(REGISTRY_SENSOR), defs.resolve_sensor_def(SCHEDULER_SENSOR)):
            with pytest.raises(SettingsError, match="account name"):
                sensor(dg.build_sensor_context(instance=instance, definitions=defs))
        assert instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS) == []
        assert instance.get_runs() == []


@pytest.mark.parametrize("name", ["a", "acme_eu", "acme_", "a1_2_3", "z" * 31])
def test_every_name_the_file_accepts_round_trips_through_a_partition_key(tmp_path, name):
    [account] = load_accounts(str(accounts_file(tmp_path / "accounts.yaml", name)), Settings.defaults())
    key = partition_key(account.key, YESTERDAY)
    # Our parser and Dagster's read the same account and day back from the key's string form.
    assert (account_of_key(str(key)), day_of(str(key))) == (name, YESTERDAY)
    parsed = partitions_for(Settings.defaults()).get_partition_key_from_str(str(key))
    assert parsed.keys_by_dimension == {"account": name, "date": YESTERDAY}


def test_why_the_name_rule_matters_dagster_itself_accepts_a_key_that_splits():
    """Dagster registers a dynamic key holding '|' and builds a partition key from it that reads back
    as another account: the accounts file's name rule is the guard, not Dagster."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, ["acme|2026-01-01"])
        assert "acme|2026-01-01" in instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS)
    forged = str(partition_key("acme|2026-01-01", YESTERDAY))
    assert account_of_key(forged) == "acme" != "acme|2026-01-01"


def test_the_single_accounts_reserved_key_is_refused_as_a_name(tmp_path):
    with pytest.raises(SettingsError, match="default"):
        load_accounts(str(accounts_file(tmp_path / "accounts.yaml", "default")), Settings.defaults())
