"""End to end through the Dagster UI: `scripts/dev.py` (the `make dev` entry point) starts a sandbox
and `dagster dev` in a temporary DAGSTER_HOME, with an accounts file (AIRCALL_ACCOUNTS_FILE) of three
accounts on that sandbox, each in its own timezone and evidence folder. The accounts are data: one
asset graph whose partitions have an `account` dimension (the registry sensor adds the three) and a
`date` one. Headless Chromium (Debian's, driven by Playwright) checks that the graph is the one of a
single account and that an asset's page shows both dimensions and one account's partitions, launches
the daily job for one account's yesterday (`<account>|<day>`) from the UI, waits for the run to
succeed and reads the check results in the UI. `aircall-pipeline backfill --account` launches another
account's call-history backfill through the same webserver, and its daemon runs it in chunks. One
`dagster dev` serves every test of the module. A screenshot is saved on failure."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCATION = "aircall_pipeline"
# The accounts of the accounts file (name -> timezone); the daily job is launched for LAUNCHED.
ACCOUNTS = {"acme_eu": "Europe/Paris", "acme_us": "America/New_York", "acme_apac": "Asia/Tokyo"}
LAUNCHED = "acme_eu"
RAW_ASSETS = ["company", "users", "teams", "team_members", "numbers", "number_users", "calls", "call_windows",
              "webhooks"]
COMPLIANCE_ASSETS = ["ac01_user_inventory", "ac02_privileged_access", "ac03_offboarding", "ac04_unmatched_accounts",
                     "ac05_shared_accounts", "ac06_dormant_accounts", "ac07_access_changes", "ac08_team_coverage",
                     "ac09_number_inventory", "ac10_recording_posture", "ac11_webhook_egress",
                     "ac14_calls_completeness", "ac15_evidence_freshness", "ac16_access_review", "evidence_report",
                     "access_reviews"]
OWNER_ASSETS = ["owner_policy", "owner_roles", "owner_roster"]
GROUPS = (("raw", RAW_ASSETS), ("owner_inputs", OWNER_ASSETS), ("compliance", COMPLIANCE_ASSETS))
PARTITIONED = ["aircall", "calls"]  # an asset of the account x date partitions
RUN_TIMEOUT = 240.0  # a minute or so here (one process, in-process executor); the rest is for a loaded machine

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium; checked before anything is started. Missing: skip locally, fail in CI."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: `make system-deps` (scripts/install-system-deps.sh) installs it")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the UI test needs Debian's Chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(ui: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{ui}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())["data"]


def _wait_for_location(ui: str, dev: subprocess.Popen, timeout: float = 120.0) -> None:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus " \
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert dev.poll() is None, "scripts/dev.py exited early"
        try:
            entries = _graphql(ui, query)["workspaceOrError"]["locationEntries"]
            last = entries
            if any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries):
                error = next(e["locationOrLoadError"] for e in entries if e["name"] == LOCATION)
                assert error["__typename"] == "RepositoryLocation", error
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"code location never loaded: {last}")


def _run_status(ui: str, run_id: str) -> str:
    data = _graphql(ui, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})
    return data["runOrError"]["status"]


def _run_tags(ui: str, run_id: str) -> dict[str, str]:
    data = _graphql(ui, "query($id: ID!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }",
                    {"id": run_id})
    return {t["key"]: t["value"] for t in data["runOrError"]["tags"]}


def _pick_partition(page, dialog, account: str, day: str) -> None:
    """In the launch dialog's partition picker: `account` in the (dynamic) `account` dimension's
    selector, `day` in the `date` dimension's range input."""
    dialog.get_by_text("Select a partition or create one").first.click()  # a tag selector, not an input
    page.get_by_role("menuitem", name=account).or_(page.get_by_text(account, exact=True)).first.click()
    dialog.get_by_text("account", exact=True).first.click()  # closes the selector's menu
    # The account selector has a text input too: the date range input is the one with an example.
    dates = dialog.locator("input[placeholder^='ex:']").first
    dates.fill(day)
    dates.press("Enter")


def _observations(ui: str, path: list[str]) -> list[dict]:
    query = "query($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset { " \
            "assetObservations(limit: 1) { timestamp } } } }"
    return _graphql(ui, query, {"path": path})["assetOrError"].get("assetObservations") or []


def _dimensions(ui: str, path: list[str]) -> dict[str, list[str]]:
    """The asset's partition keys by dimension, as the UI reads them."""
    query = "query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode { " \
            "partitionKeysByDimension { name partitionKeys } } } }"
    node = _graphql(ui, query, {"path": path})["assetNodeOrError"]
    return {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}


def _wait_for_accounts(ui: str, dev: subprocess.Popen, timeout: float = 180.0) -> None:
    """Until the registry sensor (daemon, every 60 s) has added the accounts of the file."""
    deadline = time.monotonic() + timeout
    accounts: list[str] = []
    while time.monotonic() < deadline:
        assert dev.poll() is None, "scripts/dev.py exited early"
        accounts = _dimensions(ui, PARTITIONED).get("account", [])
        if set(ACCOUNTS) <= set(accounts):
            return
        time.sleep(2)
    raise AssertionError(f"the registry sensor never registered {sorted(ACCOUNTS)}: {accounts}")


def _automation(ui: str) -> dict:
    query = "{ repositoriesOrError { ... on RepositoryConnection { nodes { " \
            "schedules { name scheduleState { status } } sensors { name sensorState { status } } } } } }"
    nodes = _graphql(ui, query)["repositoriesOrError"]["nodes"]
    return {
        "schedules": {s["name"]: s["scheduleState"]["status"] for n in nodes for s in n["schedules"]},
        "sensors": {s["name"]: s["sensorState"]["status"] for n in nodes for s in n["sensors"]},
    }


def write_accounts_file(folder: Path) -> tuple[Path, dict[str, str]]:
    """Three accounts on dev.py's sandbox (api_url defaults to the AIRCALL_API_URL it sets), each with
    its own credential variables, timezone and evidence folder; returns the file and those variables.
    Each account's schedule_cron fires on a weekday three days away from its local today, so the
    (running) scheduler sensor launches nothing while the tests run, as a schedule would not have."""
    from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN

    lines, variables = ["accounts:"], {}
    for name, tz in ACCOUNTS.items():
        upper = name.upper()
        weekday = (datetime.now(ZoneInfo(tz)).isoweekday() + 3) % 7  # cron: 0 is Sunday
        variables[f"AIRCALL_{upper}_API_ID"] = SANDBOX_API_ID
        variables[f"AIRCALL_{upper}_API_TOKEN"] = SANDBOX_API_TOKEN
        lines += [f"  - name: {name}", f"    api_id_env: AIRCALL_{upper}_API_ID",
                  f"    api_token_env: AIRCALL_{upper}_API_TOKEN", f"    timezone: {tz}",
                  f"    evidence_uri: {folder / 'evidence' / name}", f'    schedule_cron: "0 12 * * {weekday}"']
    path = folder / "accounts.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, variables


@pytest.fixture(scope="module")
def dev_server(chromium, tmp_path_factory):
    """`scripts/dev.py` on a free port with the three accounts, shared by the module's tests;
    stopped (and checked to stop) at teardown."""
    tmp_path = tmp_path_factory.mktemp("ui")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRCALL_", "ALERT_", "DAGSTER_", "EVIDENCE_"))}
    accounts_file, variables = write_accounts_file(tmp_path)
    # Two days per backfill run, so the backfill test's three days make two chunks.
    env.update(variables, AIRCALL_ACCOUNTS_FILE=str(accounts_file), AIRCALL_BACKFILL_DAYS_PER_RUN="2")
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    log = (tmp_path / "dev.log").open("w")
    dev = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "dev.py"), "--port", str(port),
         "--evidence", str(tmp_path / "evidence")],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ui = f"http://127.0.0.1:{port}"
    try:
        _wait_for_location(ui, dev)
        _wait_for_accounts(ui, dev)
        yield ui, tmp_path, dev
    finally:
        dev.send_signal(signal.SIGTERM)
        try:
            assert dev.wait(timeout=60) == 0, "scripts/dev.py did not exit cleanly"
        finally:
            try:
                os.killpg(dev.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            log.close()
        # Everything dev.py started is gone: the UI no longer answers.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{ui}/server_info", timeout=2)  # noqa: S310 - loopback


@pytest.fixture
def page(chromium, dev_server, request):
    """A headless Chromium page on the shared UI; a screenshot and the end of dev.log on failure."""
    from playwright.sync_api import expect, sync_playwright

    _, tmp_path, _ = dev_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        # Tall enough that the graphs lay out (and so render) every node of a group.
        page = browser.new_page(viewport={"width": 2400, "height": 6000})
        page.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)  # a shared 2-core machine renders slowly at times
        # A fresh instance greets the first visitor with a newsletter dialog; dismiss it whenever it shows
        # (dispatched to the button: the launch dialog may be open over it).
        page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                                 lambda _: page.get_by_role("button", name="Skip").dispatch_event("click"))
        failed_before = request.session.testsfailed
        try:
            yield page
        finally:
            if request.session.testsfailed > failed_before:
                shot = tmp_path / f"failure-{request.node.name}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot: {shot}\n--- dev.log ---\n" + (tmp_path / "dev.log").read_text()[-5000:])
            browser.close()


def _single_account_graph() -> dict[str, set[str]]:
    """group -> asset keys of the definitions of the single account of the AIRCALL_* variables."""
    from aircall_pipeline.config.settings import Settings
    from aircall_pipeline.definitions import build_defs

    graph = build_defs(Settings.defaults()).resolve_asset_graph()
    by_group: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        by_group.setdefault(graph.get(key).group_name, set()).add(key.to_user_string())
    return by_group


@pytest.mark.timeout(420)
def test_the_ui_shows_one_asset_graph_with_the_account_dimension(dev_server, page):
    from playwright.sync_api import expect

    ui, _, _ = dev_server
    # The asset graph of each group shows its assets (a tall viewport renders every node), once for
    # all three accounts.
    for kind, assets in GROUPS:
        page.goto(f"{ui}/locations/{LOCATION}/asset-groups/aircall_{kind}")
        for asset in assets:
            expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    # The UI's own model: exactly these three groups with the keys `aircall/<table>`, none naming an
    # account; the same graph as the single account's definitions (one account or three: same assets).
    nodes = _graphql(ui, "{ assetNodes { groupName assetKey { path } } }")["assetNodes"]
    by_group: dict[str, set[str]] = {}
    for node in nodes:
        by_group.setdefault(node["groupName"], set()).add("/".join(node["assetKey"]["path"]))
    assert by_group == {f"aircall_{kind}": {f"aircall/{a}" for a in assets} for kind, assets in GROUPS}
    assert by_group == _single_account_graph()

    # The partitions: an `account` dimension holding the three accounts, and a `date` one.
    dimensions = _dimensions(ui, PARTITIONED)
    assert set(dimensions) == {"account", "date"}
    assert sorted(dimensions["account"]) == sorted(ACCOUNTS)
    yesterday = (datetime.now(ZoneInfo(ACCOUNTS[LAUNCHED])).date() - timedelta(days=1)).isoformat()
    assert yesterday in dimensions["date"]
    for path in (PARTITIONED, ["aircall", "evidence_report"]):
        assert set(_dimensions(ui, path)) == {"account", "date"}

    # The asset's page shows both dimensions; selecting one account shows its (date) partitions.
    page.set_viewport_size({"width": 1600, "height": 1200})
    page.goto(f"{ui}/assets/{'/'.join(PARTITIONED)}?view=partitions")
    for dimension in ("account", "date"):
        expect(page.get_by_placeholder(f"Filter by {dimension}…")).to_be_visible()
    for name in ACCOUNTS:
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    page.get_by_text(LAUNCHED, exact=True).first.click()
    expect(page.get_by_text(f"{LAUNCHED}|{yesterday}").or_(page.get_by_text(yesterday, exact=True)).first
           ).to_be_visible()


@pytest.mark.timeout(420)
def test_launch_one_accounts_day_of_the_daily_job_from_the_ui_and_see_the_checks(dev_server, page):
    from playwright.sync_api import expect

    from aircall_pipeline.names import (
        DAILY_JOB,
        FRESHNESS_SENSOR,
        PARTITION_TAG,
        REGISTRY_SENSOR,
        SCHEDULER_SENSOR,
    )

    ui, tmp_path, _ = dev_server
    day = (datetime.now(ZoneInfo(ACCOUNTS[LAUNCHED])).date() - timedelta(days=1)).isoformat()
    # 1. Launch the one daily job for one account's day: Materialize all… -> the account in the
    #    `account` dimension, the day in the `date` one (the partition `<account>|<day>`) -> Launch 1 run.
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.goto(f"{ui}/locations/{LOCATION}/jobs/{DAILY_JOB}")
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    _pick_partition(page, dialog, LAUNCHED, day)
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Launch 1 run").click()
    expect(page.get_by_text("Launched run")).to_be_visible()
    page.get_by_role("link", name="View").or_(page.get_by_role("button", name="View")).first.click()
    page.wait_for_url("**/runs/*")
    run_id = page.url.rstrip("/").split("/runs/")[1].split("?")[0]

    # 2. The run succeeds (polled over GraphQL), and the run page says so.
    deadline = time.monotonic() + RUN_TIMEOUT
    status = _run_status(ui, run_id)
    while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
        time.sleep(2)
        status = _run_status(ui, run_id)
    assert status == "SUCCESS", f"run {run_id} ended {status}"
    tags = _run_tags(ui, run_id)  # that account's day (its run-limit key is checked last)
    assert tags[PARTITION_TAG] == f"{LAUNCHED}|{day}", tags
    page.reload()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(day).first).to_be_visible()

    # 3. The checks' results in the UI: AC-01 is blocking, so a successful run means it passed;
    #    AC-06 ran too (pass, or a WARN failure such as "not enough call history").
    page.goto(f"{ui}/assets/aircall/ac01_user_inventory?view=checks")
    expect(page.get_by_text("user_inventory").first).to_be_visible()
    expect(page.get_by_text("Latest execution")).to_be_visible()
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    page.goto(f"{ui}/assets/aircall/ac06_dormant_accounts?view=checks")
    expect(page.get_by_text("dormant_accounts").first).to_be_visible()
    expect(page.get_by_text("Evaluation result")).to_be_visible()

    # 4. The reviews sensor (running by default) has observed the accounts' evidence stores: no review
    #    imported yet, and the asset's page says so.
    deadline = time.monotonic() + RUN_TIMEOUT
    while not _observations(ui, ["aircall", "access_reviews"]) and time.monotonic() < deadline:
        time.sleep(2)
    assert _observations(ui, ["aircall", "access_reviews"]), "the reviews sensor never observed"
    page.goto(f"{ui}/assets/aircall/access_reviews")
    expect(page.get_by_text("No access review is stored yet").first).to_be_visible()

    # 5. The one scheduler (every account's clock), the registry, and the alert sensors are listed as
    #    running on the Automation page; there are no schedules any more, whatever the accounts.
    page.goto(f"{ui}/automation")
    for name in (SCHEDULER_SENSOR, REGISTRY_SENSOR, "aircall_run_failure_alert", "aircall_failed_check_alert",
                 FRESHNESS_SENSOR):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    states = _automation(ui)
    assert states["schedules"] == {}
    assert {SCHEDULER_SENSOR, REGISTRY_SENSOR, FRESHNESS_SENSOR} <= set(states["sensors"])
    assert set(states["sensors"].values()) == {"RUNNING"}

    # The run wrote the day's evidence into that account's own folder, and nothing into the others'.
    manifest = tmp_path / "evidence" / LAUNCHED / "aircall" / "reports" / f"date={day}" / "manifest.json"
    assert manifest.exists(), sorted(p.name for p in (tmp_path / "evidence").rglob("*"))[:50]
    assert not any((tmp_path / "evidence" / name).exists() for name in set(ACCOUNTS) - {LAUNCHED})
    # A run launched from the UI carries the account dimension's tag, the key of dagster.yaml's
    # one-run-per-account limit for runs the scheduler did not tag (UI launches, backfills).
    assert tags.get("dagster/partition/account") == LAUNCHED, tags


def _backfill_runs(ui: str, backfill_id: str) -> list[dict]:
    query = "query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) { ... on Runs { results { " \
            "runId status tags { key value } } } } }"
    data = _graphql(ui, query, {"tags": [{"key": "dagster/backfill", "value": backfill_id}]})
    return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]}} for r in data["runsOrError"]["results"]]


@pytest.mark.timeout(420)
def test_backfill_command_launches_a_chunked_backfill_through_the_webserver(dev_server, monkeypatch, capsys):
    from aircall_pipeline.cli import main
    from aircall_pipeline.evidence.store import EvidenceStore
    from aircall_pipeline.names import ACCOUNT_TAG, PRIORITY_TAG
    from aircall_pipeline.operations.jobs import BACKFILL_PRIORITY
    from aircall_pipeline_tests.partitions import pk

    ui, tmp_path, _ = dev_server
    name = "acme_us"
    yesterday = datetime.now(ZoneInfo(ACCOUNTS[name])).date() - timedelta(days=1)
    days = [(yesterday - timedelta(days=n)).isoformat() for n in (4, 3, 2)]

    # Without the accounts file the account is the single one (`default`), which this webserver has
    # not registered: it refuses the backfill of partitions it does not have.
    monkeypatch.delenv("AIRCALL_ACCOUNTS_FILE", raising=False)
    assert main(["backfill", "--from", days[0], "--webserver", ui]) == 1
    out = capsys.readouterr().out
    assert "refused the backfill" in out and "PartitionKeysNotFound" in out, out

    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(tmp_path / "accounts.yaml"))
    assert main(["backfill", "--account", name, "--from", days[0], "--to", days[-1], "--webserver", ui]) == 0
    out = capsys.readouterr().out
    backfill_id = out.split("Launched backfill ", 1)[1].split()[0]
    assert f"{ui}/runs/b/{backfill_id}" in out

    # The daemon (dagster dev's) picks it up within its 30 s loop and runs two chunks: 2 days, then 1.
    deadline = time.monotonic() + 300
    runs = _backfill_runs(ui, backfill_id)
    while not (len(runs) == 2 and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)):
        assert time.monotonic() < deadline, f"backfill {backfill_id} not done: {runs}"
        time.sleep(3)
        runs = _backfill_runs(ui, backfill_id)
    assert [r["status"] for r in runs] == ["SUCCESS", "SUCCESS"]
    ranges = sorted((r["tags"]["dagster/asset_partition_range_start"], r["tags"]["dagster/asset_partition_range_end"])
                    for r in runs)
    # The account's partitions only (`<account>|<date>`), in chunks of two days.
    assert ranges == [(pk(days[0], name), pk(days[1], name)), (pk(days[2], name), pk(days[2], name))]
    for run in runs:  # the account's tag (one run per account at a time) and priority (behind the daily run)
        assert run["tags"][PRIORITY_TAG] == str(BACKFILL_PRIORITY) and run["tags"][ACCOUNT_TAG] == name
    store = EvidenceStore.from_uri(tmp_path / "evidence" / name)
    assert set(days) <= set(store.dates("calls")) and set(days) <= set(store.dates("call_windows"))
    # Nothing of the other accounts' was collected.
    for other in set(ACCOUNTS) - {name, LAUNCHED}:
        assert not (tmp_path / "evidence" / other).exists()
