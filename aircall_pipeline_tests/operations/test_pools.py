"""The repository's dagster.yaml concurrency, on a real instance: one run per account at a time,
accounts side by side up to the run cap, and the one `aircall_api` pool that every account's API
steps share, sized like the run queue.

The run queue is Dagster's own (the queued-run daemon's choice of the runs to start, over runs of
the project's real daily job). The pool is exercised by real run workers (`dagster api
execute_run`, as the run launcher starts them): two accounts' API steps hold the pool at the same
time, and the pool still caps the API steps of the whole deployment."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster import DagsterEventType
from dagster._core.events import DagsterEvent
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.test_utils import freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value
from dagster._time import get_current_timestamp

from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_defs
from aircall_pipeline.ingest.partitions import partition_key, register_accounts
from aircall_pipeline.names import API_POOL, DAILY_JOB
from aircall_pipeline.names import key as asset_key
from aircall_pipeline.operations.jobs import run_tags

REPO_ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["concurrency"]
POOL_LIMIT = CONCURRENCY["pools"]["default_limit"]
MAX_RUNS = CONCURRENCY["runs"]["max_concurrent_runs"]
ACCOUNTS = ("acme", "globex", "initech", "umbrella", "hooli")  # one more than the run cap
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
RENDEZVOUS_VAR = "POOL_TEST_RENDEZVOUS"
WAIT_SECONDS = 60


# ---- the run queue --------------------------------------------------------------------------------


@pytest.fixture
def accounts_env(monkeypatch, tmp_path) -> Settings:
    for name in ("AIRCALL_API_URL", "AIRCALL_TIMEZONE", "AIRCALL_PARTITIONS_START", "AIRCALL_HISTORY_DAYS"):
        monkeypatch.delenv(name, raising=False)
    entries = []
    for name in ACCOUNTS:
        entries.append({"name": name, "api_id_env": f"AIRCALL_{name.upper()}_API_ID",
                        "api_token_env": f"AIRCALL_{name.upper()}_API_TOKEN", "evidence_uri": str(tmp_path / name)})
        monkeypatch.setenv(f"AIRCALL_{name.upper()}_API_ID", f"id-{name}")
        monkeypatch.setenv(f"AIRCALL_{name.upper()}_API_TOKEN", f"tok-{name}-SECRET")
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": entries}))
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(path))
    return Settings.from_env()


def queue_instance():
    return dg.instance_for_test(overrides={
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
        "concurrency": CONCURRENCY,
    })


def queue_daily(instance, job: dg.JobDefinition, account, *, from_the_ui: bool = False) -> str:
    """A queued run of `account`'s yesterday, tagged as the scheduler (and the CLI) tag it, or as a
    launch from the UI is: the job's and the partition's tags only (incl. `dagster/partition/account`,
    no `aircall/account`)."""
    key = partition_key(account.key, YESTERDAY)
    tags = {**job.tags, **job.partitions_def.get_tags_for_partition_key(key),
            **({} if from_the_ui else run_tags(account))}
    # The code location the run would be launched from (it never is: the test only asks the queue).
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(
        module_name="aircall_pipeline.definitions", attribute="defs", working_directory=str(REPO_ROOT)))
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job.name)
    return instance.create_run_for_job(job_def=job, tags=tags, status=dg.DagsterRunStatus.QUEUED,
                                       remote_job_origin=origin).run_id


def next_to_start(instance, at: float) -> list[str]:
    """The runs Dagster's queued-run daemon would start at `at` (priority sort, tag limits, run cap,
    pool accounting)."""
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    with freeze_time(at):
        return [run.run_id for run in daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)]


def set_status(instance, run_id: str, event_type: DagsterEventType, at: float) -> None:
    job_name = instance.get_run_by_id(run_id).job_name
    instance.handle_run_event(run_id, DagsterEvent(event_type_value=event_type.value, job_name=job_name),
                              datetime.fromtimestamp(at, UTC))


@pytest.mark.filterwarnings("ignore:Asset job aircall_daily_evidence materializes assets:UserWarning")  # jobs.py
def test_the_queue_runs_one_run_per_account_and_accounts_side_by_side_up_to_the_cap(accounts_env):
    settings = accounts_env
    assert POOL_LIMIT == MAX_RUNS > 1  # the shared pool never makes an account wait for another's step
    job = build_defs(settings).resolve_job_def(DAILY_JOB)
    with queue_instance() as instance:
        register_accounts(instance, settings.accounts)
        # The pool's limit row, as Dagster writes it the first time a run or the queue meets the pool.
        assert instance.event_log_storage.initialize_concurrency_limit_to_default(API_POOL)
        assert instance.event_log_storage.get_concurrency_info(API_POOL).slot_count == POOL_LIMIT
        acme, *others = settings.accounts
        scheduled = {acme.key: queue_daily(instance, job, acme)}
        rerun = queue_daily(instance, job, acme, from_the_ui=True)  # an operator's rerun of the same day
        scheduled |= {a.key: queue_daily(instance, job, a) for a in others}
        clock = get_current_timestamp() + 3600  # the queue's clock, after every run's creation

        assert next_to_start(instance, clock) == [scheduled["acme"]]
        set_status(instance, scheduled["acme"], DagsterEventType.RUN_START, clock)
        # Accounts start side by side, one per pass: for its first seconds (Dagster's allotment), a run
        # just started counts as holding a pool slot for each of its root API steps (more than the
        # pool has); afterwards only the slots its steps really hold count. acme's rerun, older than
        # the other accounts' runs and of the same priority, never starts while acme's run is going.
        assert next_to_start(instance, clock) == []
        for account in others[:MAX_RUNS - 1]:
            clock += 10
            assert next_to_start(instance, clock) == [scheduled[account.key]]
            set_status(instance, scheduled[account.key], DagsterEventType.RUN_START, clock)
        # The run cap: four accounts run at once; the fifth waits, as does acme's rerun.
        clock += 10
        assert next_to_start(instance, clock) == []
        assert instance.get_run_by_id(rerun).status == dg.DagsterRunStatus.QUEUED

        # acme's run ends: its rerun (queued before the fifth account's run) takes the free place.
        set_status(instance, scheduled["acme"], DagsterEventType.RUN_SUCCESS, clock)
        assert next_to_start(instance, clock) == [rerun]
        set_status(instance, rerun, DagsterEventType.RUN_START, clock)
        clock += 10
        assert next_to_start(instance, clock) == []
        set_status(instance, scheduled["globex"], DagsterEventType.RUN_SUCCESS, clock)
        assert next_to_start(instance, clock) == [scheduled[others[-1].key]]


# ---- the pool, with real run workers ---------------------------------------------------------------


def _marker_dir() -> Path:
    return Path(os.environ[RENDEZVOUS_VAR])


def _rendezvous(context: dg.AssetExecutionContext, wanted: int) -> None:
    """Hold the pool's slot until `wanted` API steps hold one at the same time (or until a step has
    already finished: the later ones of a full pool run after the first ones), then check that no
    more than the pool's limit ever did."""
    folder = _marker_dir()
    me = folder / f"{context.run_id}-{context.op.name}.running"
    me.touch()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            running = len(list(folder.glob("*.running")))
            assert running <= POOL_LIMIT, f"{running} API steps at once, over the pool's {POOL_LIMIT}"
            if running >= wanted:
                # Every one of them holds a slot of the pool (the executor claims before the step).
                held = len(context.instance.event_log_storage.get_concurrency_info(API_POOL).claimed_slots)
                assert wanted <= held <= POOL_LIMIT, f"{held} slots held by {running} running API steps"
                break
            if any(folder.glob("*.done")):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{running} API step(s) ran at once, never {wanted}: the pool held them back")
            time.sleep(0.05)
        time.sleep(0.3)
        assert len(list(folder.glob("*.running"))) <= POOL_LIMIT
    finally:
        me.unlink()
        (folder / f"{context.run_id}-{context.op.name}.done").touch()


@dg.asset(key=asset_key("users"), pool=API_POOL)
def account_users(context: dg.AssetExecutionContext) -> int:
    """One account's API step, as in the real jobs (one process per run, one step at a time)."""
    _rendezvous(context, wanted=2)
    return 1


def _api_step(name: str) -> dg.AssetsDefinition:
    @dg.asset(key=asset_key(name), pool=API_POOL)
    def _step(context: dg.AssetExecutionContext) -> int:
        _rendezvous(context, wanted=POOL_LIMIT)
        return 1

    return _step


# One step more than the pool holds, all startable at once (the multiprocess executor, no cap of its own).
CROWD = [_api_step(f"api_step_{i}") for i in range(POOL_LIMIT + 1)]

pool_defs = dg.Definitions(
    assets=[account_users, *CROWD],
    jobs=[dg.define_asset_job("one_account_job", selection=[account_users], executor_def=dg.in_process_executor),
          dg.define_asset_job("crowded_job", selection=CROWD, executor_def=dg.multiprocess_executor.configured(
              {"max_concurrent": POOL_LIMIT + 1}))],
)


def get_one_account_job() -> dg.JobDefinition:
    return pool_defs.resolve_job_def("one_account_job")


def get_crowded_job() -> dg.JobDefinition:
    return pool_defs.resolve_job_def("crowded_job")


def _start_worker(instance, run, log: Path, markers: Path) -> subprocess.Popen:
    args = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id, instance_ref=instance.get_ref())
    return subprocess.Popen([sys.executable, "-m", "dagster", "api", "execute_run", serialize_value(args)],
                            cwd=REPO_ROOT, env={**os.environ, RENDEZVOUS_VAR: str(markers)},
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))


def _run_workers(instance, get_job, tags_of_runs: list[dict], tmp_path: Path) -> list:
    markers = tmp_path / "markers"
    markers.mkdir()
    recon = dg.reconstructable(get_job)
    runs = [instance.create_run_for_job(job_def=get_job(), job_code_origin=recon.get_python_origin(), tags=tags)
            for tags in tags_of_runs]
    logs = [tmp_path / f"worker{i}.log" for i in range(len(runs))]
    workers = [_start_worker(instance, run, log, markers) for run, log in zip(runs, logs, strict=True)]
    for worker in workers:
        worker.wait(timeout=240)
    for run in runs:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS, \
            "\n".join(log.read_text()[-3000:] for log in logs)
    return runs


def _step_intervals(instance, runs) -> list[tuple[float, float, str]]:
    intervals = []
    for run in runs:
        starts, ends = {}, {}
        for record in instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_START,
                                                             DagsterEventType.STEP_SUCCESS}):
            target = starts if record.dagster_event.event_type == DagsterEventType.STEP_START else ends
            target[record.step_key] = record.timestamp
        intervals += [(starts[k], ends[k], f"{run.run_id[:8]}:{k}") for k in starts]
    return intervals


def _most_at_once(intervals) -> int:
    edges = sorted([(start, 1) for start, _, _ in intervals] + [(end, -1) for _, end, _ in intervals])
    most = current = 0
    for _, change in edges:
        current += change
        most = max(most, current)
    return most


def _pool_waits(instance, runs) -> list:
    return [r for run in runs for r in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
            if "concurrency" in (r.dagster_event.message or "").lower()
            or "pool" in (r.dagster_event.message or "").lower()]


@pytest.mark.slow
def test_two_accounts_call_the_api_at_the_same_time(tmp_path):
    """Each step holds the pool until the other account's step holds it too: with per-account pools
    of one squeezed into one shared pool of one, the second would wait for the first forever."""
    with dg.instance_for_test(overrides={"concurrency": {"pools": CONCURRENCY["pools"]}}) as instance:
        runs = _run_workers(instance, get_one_account_job,
                            [{"aircall/account": "acme"}, {"aircall/account": "globex"}], tmp_path)
        intervals = _step_intervals(instance, runs)
        assert len(intervals) == 2 and _most_at_once(intervals) == 2
        assert _pool_waits(instance, runs) == []  # neither waited for the pool


@pytest.mark.slow
def test_the_pool_caps_the_api_steps_of_the_deployment(tmp_path):
    """One step more than the pool's limit, all startable at once: exactly the limit hold the pool
    together, the last one waits for a slot."""
    with dg.instance_for_test(overrides={"concurrency": {"pools": CONCURRENCY["pools"]}}) as instance:
        runs = _run_workers(instance, get_crowded_job, [{}], tmp_path)
        intervals = _step_intervals(instance, runs)
        assert len(intervals) == POOL_LIMIT + 1
        assert _most_at_once(intervals) == POOL_LIMIT
        assert _pool_waits(instance, runs)  # the limit really was contended
