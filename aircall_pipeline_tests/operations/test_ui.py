"""End to end through the Dagster UI: `scripts/dev.py` (the `make dev` entry point) starts a sandbox
and `dagster dev` in a temporary DAGSTER_HOME, with an accounts file (AIRCALL_ACCOUNTS_FILE) of three
accounts on that sandbox, each in its own timezone and evidence folder. Headless Chromium (Debian's,
driven by Playwright) checks that each account's asset groups show its assets, launches one
account's daily job for yesterday's partition from the UI, waits for the run to succeed and reads the
check results in the UI. `aircall-pipeline backfill` launches another account's call-history backfill
through the same webserver, and its daemon runs it in chunks. One `dagster dev` serves every test of
the module. A screenshot is saved on
failure."""

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
RUN_TIMEOUT = 240.0  # ~60-130 s here: each of the ~20 steps is its own process (multiprocess executor)

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


def _observations(ui: str, path: list[str]) -> list[dict]:
    query = "query($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset { " \
            "assetObservations(limit: 1) { timestamp } } } }"
    return _graphql(ui, query, {"path": path})["assetOrError"].get("assetObservations") or []


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
    its own credential variables, timezone and evidence folder; returns the file and those variables."""
    from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN

    lines, variables = ["accounts:"], {}
    for name, tz in ACCOUNTS.items():
        upper = name.upper()
        variables[f"AIRCALL_{upper}_API_ID"] = SANDBOX_API_ID
        variables[f"AIRCALL_{upper}_API_TOKEN"] = SANDBOX_API_TOKEN
        lines += [f"  - name: {name}", f"    api_id_env: AIRCALL_{upper}_API_ID",
                  f"    api_token_env: AIRCALL_{upper}_API_TOKEN", f"    timezone: {tz}",
                  f"    evidence_uri: {folder / 'evidence' / name}"]
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
        # A fresh instance greets the first visitor with a newsletter dialog; dismiss it whenever it shows.
        page.add_locator_handler(page.get_by_text("Join the Dagster community"),
                                 lambda _: page.get_by_role("button", name="Skip").click())
        failed_before = request.session.testsfailed
        try:
            yield page
        finally:
            if request.session.testsfailed > failed_before:
                shot = tmp_path / f"failure-{request.node.name}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot: {shot}\n--- dev.log ---\n" + (tmp_path / "dev.log").read_text()[-5000:])
            browser.close()


@pytest.mark.timeout(420)
def test_each_account_has_its_own_groups_in_the_ui(dev_server, page):
    from playwright.sync_api import expect

    ui, _, _ = dev_server
    # The asset graph of each of each account's groups shows its assets (a tall viewport renders every node).
    for name in ACCOUNTS:
        for kind, assets in GROUPS:
            page.goto(f"{ui}/locations/{LOCATION}/asset-groups/aircall_{kind}_{name}")
            for asset in assets:
                expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    # The UI's own model: exactly these nine groups, each holding only its account's keys.
    nodes = _graphql(ui, "{ assetNodes { groupName assetKey { path } } }")["assetNodes"]
    by_group: dict[str, set[str]] = {}
    for node in nodes:
        by_group.setdefault(node["groupName"], set()).add("/".join(node["assetKey"]["path"]))
    assert set(by_group) == {f"aircall_{kind}_{name}" for kind, _ in GROUPS for name in ACCOUNTS}
    for name in ACCOUNTS:
        for kind, assets in GROUPS:
            assert by_group[f"aircall_{kind}_{name}"] == {f"aircall/{name}/{a}" for a in assets}


@pytest.mark.timeout(420)
def test_launch_the_daily_job_from_the_ui_and_see_the_checks(dev_server, page):
    from playwright.sync_api import expect

    ui, tmp_path, _ = dev_server
    job = f"aircall_daily_evidence_{LAUNCHED}"
    day = (datetime.now(ZoneInfo(ACCOUNTS[LAUNCHED])).date() - timedelta(days=1)).isoformat()
    # 1. Launch the job for one partition: Materialize all… -> type the partition -> Launch 1 run.
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.goto(f"{ui}/locations/{LOCATION}/jobs/{job}")
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    partitions = dialog.get_by_placeholder("No matching partitions")
    partitions.fill(day)
    partitions.press("Enter")
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
    page.reload()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(day).first).to_be_visible()

    # 3. The checks' results in the UI: AC-01 is blocking, so a successful run means it passed;
    #    AC-06 ran too (pass, or a WARN failure such as "not enough call history").
    page.goto(f"{ui}/assets/aircall/{LAUNCHED}/ac01_user_inventory?view=checks")
    expect(page.get_by_text("user_inventory").first).to_be_visible()
    expect(page.get_by_text("Latest execution")).to_be_visible()
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    page.goto(f"{ui}/assets/aircall/{LAUNCHED}/ac06_dormant_accounts?view=checks")
    expect(page.get_by_text("dormant_accounts").first).to_be_visible()
    expect(page.get_by_text("Evaluation result")).to_be_visible()

    # 4. The account's reviews sensor (running by default) has observed its evidence store: no review
    #    imported yet, and the asset's page says so.
    deadline = time.monotonic() + RUN_TIMEOUT
    while not _observations(ui, ["aircall", LAUNCHED, "access_reviews"]) and time.monotonic() < deadline:
        time.sleep(2)
    assert _observations(ui, ["aircall", LAUNCHED, "access_reviews"]), "the reviews sensor never observed"
    page.goto(f"{ui}/assets/aircall/{LAUNCHED}/access_reviews")
    expect(page.get_by_text("No access review is stored yet").first).to_be_visible()

    # 5. Each account's schedule, and the alert sensors, are listed as running on the Automation page.
    schedules = {f"aircall_daily_evidence_{name}_schedule" for name in ACCOUNTS}
    page.goto(f"{ui}/automation")
    for name in (*sorted(schedules), "aircall_run_failure_alert", "aircall_failed_check_alert",
                 f"aircall_evidence_freshness_{LAUNCHED}"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    states = _automation(ui)
    assert states["schedules"] == dict.fromkeys(schedules, "RUNNING")
    assert set(states["sensors"].values()) == {"RUNNING"}

    # The run wrote the day's evidence into that account's own folder, and nothing into the others'.
    manifest = tmp_path / "evidence" / LAUNCHED / "aircall" / "reports" / f"date={day}" / "manifest.json"
    assert manifest.exists(), sorted(p.name for p in (tmp_path / "evidence").rglob("*"))[:50]
    assert not any((tmp_path / "evidence" / name).exists() for name in set(ACCOUNTS) - {LAUNCHED})


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

    ui, tmp_path, _ = dev_server
    name = "acme_us"
    yesterday = datetime.now(ZoneInfo(ACCOUNTS[name])).date() - timedelta(days=1)
    days = [(yesterday - timedelta(days=n)).isoformat() for n in (4, 3, 2)]

    # Without the accounts file the job is the single account's, which this webserver does not have.
    monkeypatch.delenv("AIRCALL_ACCOUNTS_FILE", raising=False)
    assert main(["backfill", "--from", days[0], "--webserver", ui]) == 1
    assert "no code location" in capsys.readouterr().out

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
    assert ranges == [(days[0], days[1]), (days[2], days[2])]
    for run in runs:  # the job's own tags: one run per account at a time, behind the daily run
        assert run["tags"][PRIORITY_TAG] == str(BACKFILL_PRIORITY) and ACCOUNT_TAG in run["tags"]
    store = EvidenceStore.from_uri(tmp_path / "evidence" / name)
    assert set(days) <= set(store.dates("calls")) and set(days) <= set(store.dates("call_windows"))
