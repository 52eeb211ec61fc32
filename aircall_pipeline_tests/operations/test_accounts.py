"""Several Aircall accounts in one code location (AIRCALL_ACCOUNTS_FILE): one asset graph, the
account a partition dimension; each account its own days (on its own clock), budget, evidence and
alerts; one revoked key fails alone; `aircall-pipeline accounts` shows each account's state and last
sealed day. Real sandboxes over HTTP, real Dagster runs, the real run-failure sensor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from aircall_pipeline.config.accounts import load_accounts
from aircall_pipeline.config.settings import DEFAULT_ACCOUNT_KEY, Settings, SettingsError
from aircall_pipeline.definitions import build_defs, load_defs
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.ingest.partitions import ACCOUNT_DIM, partition_key
from aircall_pipeline.names import (
    ACCOUNT_TAG,
    ACCOUNTS_PARTITIONS,
    API_POOL,
    COMPLIANCE_GROUP,
    DAILY_JOB,
    FAILED_CHECK_SENSOR,
    FRESHNESS_SENSOR,
    HISTORY_JOB,
    RAW_GROUP,
    RUN_FAILURE_SENSOR,
    SCHEDULE_FAILURE_SENSOR,
    SCHEDULER_SENSOR,
    key,
    report_key,
)
from aircall_pipeline.operations.jobs import run_tags
from aircall_pipeline.operations.scheduler import scheduled_requests
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.owner_files import write_owner_files
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.operations.failure_ticks import tick_failure_sensor
from aircall_pipeline_tests.partitions import pk, registered

ACCOUNTS = {  # name -> (seed, timezone)
    "acme_eu": (3, "Europe/Paris"),
    "acme_us": (5, "America/New_York"),
    "acme_revoked": (9, "UTC"),
}


@pytest.fixture
def three_accounts(make_sandbox, tmp_path, monkeypatch):
    """Three sandbox accounts, one with a revoked key, configured through an accounts file."""
    lines = ["accounts:"]
    env: dict[str, str] = {}
    servers = {}
    for name, (seed, tz) in ACCOUNTS.items():
        account = SandboxAccount(seed=seed, calls=300, days=5)
        api_id, token = f"id-{name}", f"tok-{name}-SECRET"
        server = make_sandbox(account=account, api_id=api_id, api_token=token, rate_limit=600, window_seconds=6)
        servers[name] = server
        upper = name.upper()
        env[f"AIRCALL_{upper}_API_ID"] = api_id
        env[f"AIRCALL_{upper}_API_TOKEN"] = "revoked-key" if name == "acme_revoked" else token
        inputs = write_owner_files(account, tmp_path / name / "inputs")
        lines += [
            f"  - name: {name}",
            f"    api_url: {server.url}",
            f"    api_id_env: AIRCALL_{upper}_API_ID",
            f"    api_token_env: AIRCALL_{upper}_API_TOKEN",
            f"    evidence_uri: {tmp_path / name / 'evidence'}",
            f"    timezone: {tz}",
            f"    roles_uri: {inputs['AIRCALL_ROLES_URI']}",
            f"    roster_uri: {inputs['AIRCALL_ROSTER_URI']}",
        ]
    base = deployment_env(servers["acme_eu"], SandboxAccount(seed=3, calls=300, days=5), tmp_path,
                          api_id="unused", api_token="unused")
    accounts_file = tmp_path / "accounts.yaml"
    accounts_file.write_text("\n".join(lines) + "\n")
    for name, value in {**base, **env, "AIRCALL_ACCOUNTS_FILE": str(accounts_file)}.items():
        monkeypatch.setenv(name, value)
    for name in ("AIRCALL_API_ID", "AIRCALL_API_TOKEN", "AIRCALL_API_URL", "AIRCALL_SCHEDULE_CRON",
                 "AIRCALL_PARTITIONS_START"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def yesterday(tz: str) -> str:
    return (datetime.now(ZoneInfo(tz)).date() - timedelta(days=1)).isoformat()


def test_every_account_is_a_partition_of_one_graph_with_its_own_clock_and_budget(three_accounts):
    settings = Settings.from_env()
    defs = build_defs(settings)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    # One graph, one job of each kind, whatever the accounts: no name carries an account.
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert "aircall/users" in keys and not any(name in k for name in ACCOUNTS for k in keys)
    daily = defs.resolve_job_def(DAILY_JOB)
    assert defs.resolve_job_def(HISTORY_JOB)
    users = graph.get(key("users"))
    assert users.group_name == RAW_GROUP and users.pools == {API_POOL}
    assert graph.get(report_key()).group_name == COMPLIANCE_GROUP
    # Each account is a key of the account dimension: once registered, its days are partitions of
    # every asset (the daily job's included), another account's name is not.
    dimension = users.partitions_def.get_partitions_def_for_dimension(ACCOUNT_DIM)
    assert dimension.name == ACCOUNTS_PARTITIONS
    with dg.instance_for_test() as instance, dg.partition_loading_context(dynamic_partitions_store=instance):
        registered(instance, *ACCOUNTS)
        for name, (_, tz) in ACCOUNTS.items():
            day = partition_key(name, yesterday(tz))
            assert users.partitions_def.has_partition_key(day), name
            assert daily.partitions_def.has_partition_key(day), name
        assert not users.partitions_def.has_partition_key(partition_key("acme_other", yesterday("UTC")))
    # Each account's day on its own clock: at 01:30 UTC the default 02:15 cron has passed in Paris
    # (its yesterday is due) and in New York (the evening before: its own previous day), not in UTC.
    now = datetime.now(UTC).replace(hour=1, minute=30, second=0, microsecond=0)
    requests, _ = scheduled_requests(settings, set(ACCOUNTS), now)
    today = now.date()
    assert {r.partition_key: r.tags[ACCOUNT_TAG] for r in requests} == {
        partition_key("acme_eu", today - timedelta(days=1)): "acme_eu",
        partition_key("acme_us", today - timedelta(days=2)): "acme_us"}
    assert {r.run_key for r in requests} == {f"acme_eu:{today - timedelta(days=1)}",
                                             f"acme_us:{today - timedelta(days=2)}"}
    # The sensors are the same few whatever the accounts; none is per account any more.
    sensors = {s.name for s in defs.sensors}
    assert {RUN_FAILURE_SENSOR, FAILED_CHECK_SENSOR, FRESHNESS_SENSOR, SCHEDULE_FAILURE_SENSOR,
            SCHEDULER_SENSOR} <= sensors
    assert not any(name in s for name in ACCOUNTS for s in sensors)
    # No account's resources leak into another's: the one Aircall resource holds no credential, and
    # each account gets its own budget key and credential variables, read at run time.
    aircall = defs.resources["aircall"]
    assert (aircall.api_id, aircall.api_token) == ("", "")
    assert [a.budget for a in settings.accounts] == [f"aircall_{name}" for name in ACCOUNTS]
    assert [a.api_token_env for a in settings.accounts] == [f"AIRCALL_{name.upper()}_API_TOKEN" for name in ACCOUNTS]


def test_accounts_run_side_by_side_and_a_revoked_key_fails_alone(three_accounts, webhook):
    settings = Settings.from_env()
    job = build_defs(settings).resolve_job_def(DAILY_JOB)
    trusted = TrustedKey.from_pem_file(three_accounts / "keys" / "evidence.key.pub")
    with dg.instance_for_test() as instance:
        registered(instance, *ACCOUNTS)
        results = {}
        for account in settings.accounts:
            results[account.name] = job.execute_in_process(
                partition_key=partition_key(account.key, yesterday(account.timezone)), instance=instance,
                tags=run_tags(account), raise_on_error=False)
        failed = results["acme_revoked"]
        assert not failed.success
        tick_failure_sensor(instance, failed.run_id)
    for name in ("acme_eu", "acme_us"):
        assert results[name].success, name
        store = EvidenceStore.from_uri(three_accounts / name / "evidence")
        day = yesterday(ACCOUNTS[name][1])
        assert store.verify(day, trusted=trusted).authenticated
        manifest = store.read_manifest(day)
        assert manifest["api_url"] == settings.account(name).api_url  # each account's own sandbox
    # Each account's evidence holds its own company, never another's.
    eu = EvidenceStore.from_uri(three_accounts / "acme_eu" / "evidence").read_table("users", yesterday("Europe/Paris"))
    us = EvidenceStore.from_uri(three_accounts / "acme_us" / "evidence").read_table("users",
                                                                                    yesterday("America/New_York"))
    assert set(eu["email"]) != set(us["email"])
    assert not (three_accounts / "acme_revoked" / "evidence").exists()
    [alert] = webhook.payloads
    assert alert["kind"] == "auth" and "account acme_revoked" in alert["title"]
    assert alert["details"]["account"] == "acme_revoked"
    assert "tok-acme" not in webhook.raw


def accounts_cli(*options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aircall_pipeline.cli", "accounts", *options],
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_accounts_lists_configuration_never_secrets(three_accounts):
    proc = accounts_cli("--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["name"] for r in rows] == list(ACCOUNTS)
    assert rows[0]["variables_set"] == {"AIRCALL_ACME_EU_API_ID": True, "AIRCALL_ACME_EU_API_TOKEN": True}
    assert rows[1]["timezone"] == "America/New_York" and rows[1]["partition"] == "acme_us"
    assert rows[1]["budget"] == "aircall_acme_us"
    # The instance of DAGSTER_HOME has nothing yet: every account live, none sealed, none removed.
    assert [(r["state"], r["last_sealed_day"]) for r in rows] == [("live", None)] * 3
    assert "SECRET" not in proc.stdout and "revoked-key" not in proc.stdout


def seal(instance: dg.DagsterInstance, account_key: str, *days: str, asset: dg.AssetKey | None = None) -> None:
    """Record `account_key`'s report (or `asset`) as materialized for `days`, as a sealed run would."""
    for day in days:
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=asset or report_key(), partition=str(partition_key(account_key, day))))


def test_cli_accounts_shows_live_paused_removed_and_the_last_sealed_day(three_accounts):
    accounts_file = three_accounts / "accounts.yaml"
    accounts_file.write_text(accounts_file.read_text() + "    paused: true\n")  # the last entry: acme_revoked
    assert os.environ["DAGSTER_HOME"] == str(three_accounts / "home")
    with dg.DagsterInstance.get() as instance:
        # Registered by the registry sensor over time: the file's accounts, one removed from the file
        # since, and the single account's `default` from before the file existed.
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, [*ACCOUNTS, "acme_gone", DEFAULT_ACCOUNT_KEY])
        seal(instance, "acme_eu", "2026-03-05", "2026-03-01")  # a backfilled older day sealed last
        seal(instance, "acme_us", "2026-03-07", asset=key("users"))  # collected, never sealed
        seal(instance, "acme_gone", "2026-02-10")
        seal(instance, DEFAULT_ACCOUNT_KEY, "2026-01-15")
    proc = accounts_cli("--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["partition"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert list(rows) == [*ACCOUNTS, "acme_gone", DEFAULT_ACCOUNT_KEY]  # the file's order, then the removed
    assert {k: (r["state"], r["last_sealed_day"]) for k, r in rows.items()} == {
        "acme_eu": ("live", "2026-03-05"), "acme_us": ("live", None), "acme_revoked": ("paused", None),
        "acme_gone": ("removed", "2026-02-10"), DEFAULT_ACCOUNT_KEY: ("removed", "2026-01-15")}
    gone = rows["acme_gone"]
    assert gone["name"] == "acme_gone" and gone["api_url"] is None and gone["budget"] is None
    assert rows[DEFAULT_ACCOUNT_KEY]["name"] == "(single account: AIRCALL_* variables)"
    text = accounts_cli()
    assert text.returncode == 0, text.stderr
    block = text.stdout[text.stdout.index("acme_gone\n"):text.stdout.index("(single account")]
    assert f"  {'state':<22} removed\n" in block and f"  {'last_sealed_day':<22} 2026-02-10\n" in block
    assert "api_url" not in block and "budget" not in block  # its settings went with its entry
    us = text.stdout[text.stdout.index("acme_us\n"):text.stdout.index("acme_revoked\n")]
    assert f"  {'last_sealed_day':<22} -\n" in us and f"  {'state':<22} live\n" in us


@pytest.mark.parametrize("home", [None, "missing"])
def test_cli_accounts_without_an_instance_shows_no_sealed_day_and_creates_none(three_accounts, home):
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    if home:
        env["DAGSTER_HOME"] = str(three_accounts / home)
    proc = accounts_cli("--json", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["partition"], r["state"], r["last_sealed_day"]) for r in rows] == [
        (name, "live", None) for name in ACCOUNTS]
    assert not (three_accounts / "missing").exists()


def test_cli_needs_an_account_when_there_are_several(three_accounts):
    cli = [sys.executable, "-m", "aircall_pipeline.cli"]
    proc = subprocess.run(cli + ["check-connection"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "choose one with --account" in proc.stderr and "acme_us" in proc.stderr
    ok = subprocess.run(cli + ["check-connection", "--account", "acme_us"], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    revoked = subprocess.run(cli + ["check-connection", "--account", "acme_revoked"], capture_output=True,
                             text=True, timeout=120)
    assert revoked.returncode == 3
    unknown = subprocess.run(cli + ["run", "--account", "nobody"], capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "no account named 'nobody'" in unknown.stdout


# ---- a bad accounts file --------------------------------------------------------------------------

GOOD = """accounts:
  - name: acme_eu
    api_id_env: AIRCALL_ACME_EU_API_ID
    api_token_env: AIRCALL_ACME_EU_API_TOKEN
"""


@pytest.mark.parametrize("text, message", [
    (GOOD + "    colour: blue\n", "line 5: unknown key 'colour'"),
    (GOOD + GOOD.replace("accounts:\n", ""), "line 5: account name 'acme_eu' is already used on line 2"),
    (GOOD.replace("acme_eu\n", "Acme-EU\n"), "line 2: account name 'Acme-EU' must match"),
    (GOOD.replace("    api_token_env: AIRCALL_ACME_EU_API_TOKEN\n", ""), "line 2: the account lacks api_token_env"),
    (GOOD.replace("AIRCALL_ACME_EU_API_TOKEN", "tok-live-123"), "line 4: api_token_env must be the NAME"),
    (GOOD + "    timezone: Mars/Olympus\n", "line 5: timezone: 'Mars/Olympus' is not an IANA timezone"),
    (GOOD + "    api_url: http://api.aircall.io\n", "line 5: api_url:"),
    (GOOD + "    rate_limit_per_minute: lots\n", "line 5: rate_limit_per_minute must be a whole number"),
    ("accounts:\n  - name: [unclosed\n", "line 3: not valid YAML"),
    ("clients: []\n", "line 1: unknown top-level key 'clients'"),
    ("", "the file is empty"),
    # The pydantic models' further rules, each still one error naming the line.
    (GOOD + "    api_secret: aws-secretsmanager:aircall/acme_eu\n", "line 5: the account gives both api_secret"),
    ("accounts:\n  - name: acme_eu\n    timezone: UTC\n", "line 2: the account lacks its credentials"),
    ("accounts:\n  - name: acme_eu\n    api_secret: tok-live-123\n", "line 3: api_secret must be aws-secretsmanager:"),
    (GOOD + "    paused: maybe\n", "line 5: paused must be true or false"),
    (GOOD + "    rate_limit_per_minute: true\n", "line 5: rate_limit_per_minute must be a whole number"),
    (GOOD + "    rate_limit_per_minute: 0\n", "line 5: rate_limit_per_minute must be a whole number"),
    (GOOD + "    schedule_cron: 2026-01-01\n", "line 5: schedule_cron must be text"),
    (GOOD + "    1: x\n", "line 5: unknown key '1'"),
    ("accounts:\n  - just text\n", "line 2: each account is a mapping"),
    ("accounts: []\n", "line 1: `accounts:` lists no account"),
    ("accounts: 3\n", "line 1: `accounts:` must be a list"),
    ("- name: acme_eu\n", "line 1: expected `accounts:` at the top level"),
])
def test_a_bad_accounts_file_is_one_clear_error_naming_file_and_line(tmp_path, text, message):
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_accounts(str(path), Settings.defaults())
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "tok-live-123" not in str(info.value)  # a secret pasted where a name belongs is never repeated


def test_a_bad_accounts_file_still_loads_the_definitions(tmp_path, monkeypatch):
    path = tmp_path / "accounts.yaml"
    path.write_text(GOOD + "    colour: blue\n")
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(path))
    monkeypatch.setenv("AIRCALL_API_ID", "id-1")
    monkeypatch.setenv("AIRCALL_API_TOKEN", "tok-1")
    defs = load_defs()
    dg.Definitions.validate_loadable(defs)
    assert {s.name for s in defs.sensors} >= {"aircall_run_failure_alert", "aircall_failed_check_alert"}
    job = defs.resolve_job_def(DAILY_JOB)
    result = job.execute_in_process(partition_key=pk((datetime.now(UTC).date() - timedelta(days=1)).isoformat()),
                                    instance=registered(), raise_on_error=False)
    assert not result.success
    from aircall_pipeline.operations.failures import diagnose, facts_from_events

    diagnosis = diagnose(facts_from_events(result.all_events))
    assert diagnosis.kind == "config" and "unknown key 'colour'" in diagnosis.text


def test_without_an_accounts_file_the_single_account_keeps_its_names(monkeypatch):
    monkeypatch.delenv("AIRCALL_ACCOUNTS_FILE", raising=False)
    settings = Settings.from_env()
    [account] = settings.accounts
    assert account.name is None and account.key == DEFAULT_ACCOUNT_KEY and account.budget == "aircall"
    assert key("users").path == ["aircall", "users"] and report_key().path == ["aircall", "evidence_report"]
    assert DAILY_JOB == "aircall_daily_evidence" and API_POOL == "aircall_api"
    assert str(pk("2026-03-09")) == "default|2026-03-09"
    graph = build_defs(settings).resolve_asset_graph()
    assert graph.get(key("users")).pools == {API_POOL}
    assert account == settings.default_account


def test_entries_parse_into_accounts_with_the_variables_as_defaults(tmp_path, monkeypatch):
    """AccountEntry/AccountsFile are the file's schema; Account (settings.py) holds the result. An entry
    without evidence_uri gets EVIDENCE_URI/<name>; one that sets it keeps it; paused and api_secret
    are carried through."""
    path = tmp_path / "accounts.yaml"
    path.write_text(GOOD + "    paused: true\n"
                    "  - name: acme_us\n    api_secret: aws-secretsmanager:aircall/acme_us\n"
                    "    evidence_uri: s3://elsewhere/us\n    rate_limit_per_minute: 30\n")
    for base, expected in (("s3://bucket/prefix", "s3://bucket/prefix/acme_eu"),
                           ("s3://bucket/prefix/", "s3://bucket/prefix/acme_eu"),
                           ("s3://bucket", "s3://bucket/acme_eu"),
                           (str(tmp_path / "evidence"), str(tmp_path / "evidence" / "acme_eu"))):
        monkeypatch.setenv("EVIDENCE_URI", base)
        monkeypatch.setenv("AIRCALL_TIMEZONE", "Europe/Paris")
        monkeypatch.setenv("AIRCALL_RATE_LIMIT_PER_MINUTE", "45")
        settings = Settings.from_env()
        eu, us = load_accounts(str(path), settings)
        assert eu.evidence_uri == expected and us.evidence_uri == "s3://elsewhere/us"
        assert (eu.paused, eu.api_secret, eu.api_id_env) == (True, None, "AIRCALL_ACME_EU_API_ID")
        assert (us.paused, us.api_secret) == (False, "aws-secretsmanager:aircall/acme_us")
        assert (eu.timezone, eu.rate_limit_per_minute, us.rate_limit_per_minute) == ("Europe/Paris", 45, 30)
        assert eu.api_url == settings.default_account.api_url


def test_the_single_account_keeps_the_bare_evidence_uri(monkeypatch):
    monkeypatch.delenv("AIRCALL_ACCOUNTS_FILE", raising=False)
    monkeypatch.setenv("EVIDENCE_URI", "s3://bucket/prefix")
    [account] = Settings.from_env().accounts
    assert account.evidence_uri == "s3://bucket/prefix" and account.name is None
