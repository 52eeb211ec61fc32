"""The `aircall_api` pool, with the repository's own dagster.yaml limit (default_limit: 1): two runs
in flight together, each with two API steps under the multiprocess executor, never call the API
concurrently. Run workers are the real ones (`dagster api execute_run`, as the run launcher starts).

The second worker starts once the first holds the pool's slot. Dagster claims a slot with
`SELECT ... FOR UPDATE SKIP LOCKED` then `UPDATE`: on Postgres (deploy/) that is atomic, but SQLite
(this test instance, and `dagster dev`) has no row locks, so two runs claiming in the same instant
can both get the one free slot. Deployed, the per-account run limit (dagster.yaml) keeps two runs of
one account from starting together in the first place; what this test proves is the pool's own
hand-over: every later step waits for the slot and none overlaps."""

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster import DagsterEventType
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

from aircall_pipeline.names import SINGLE_ACCOUNT
from aircall_pipeline_tests.operations import jobs

REPO_ROOT = Path(__file__).resolve().parents[2]


def _step_intervals(instance, run_id):
    starts, ends = {}, {}
    for record in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}):
        target = starts if record.dagster_event.event_type == DagsterEventType.STEP_START else ends
        target[record.step_key] = record.timestamp
    return [(starts[k], ends[k], f"{run_id[:8]}:{k}") for k in starts]


def _start_worker(instance, run, log: Path) -> subprocess.Popen:
    args = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id, instance_ref=instance.get_ref())
    return subprocess.Popen([sys.executable, "-m", "dagster", "api", "execute_run", serialize_value(args)],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log.open("w"))


def _wait_until_holding_the_slot(instance, run, worker: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        claims = instance.event_log_storage.get_concurrency_info(SINGLE_ACCOUNT.pool).claimed_slots
        if any(claim.run_id == run.run_id for claim in claims):
            return
        assert worker.poll() is None, f"the first run worker exited early: {log.read_text()[-3000:]}"
        time.sleep(0.05)
    pytest.fail(f"the first run never claimed the {SINGLE_ACCOUNT.pool} slot: {log.read_text()[-3000:]}")


@pytest.mark.slow
def test_two_concurrent_runs_never_overlap_their_api_steps(tmp_path):
    concurrency = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["concurrency"]
    assert concurrency["pools"]["default_limit"] == 1
    with dg.instance_for_test(overrides={"concurrency": {"pools": concurrency["pools"]}}) as instance:
        recon = dg.reconstructable(jobs.get_pool_job)
        runs = [instance.create_run_for_job(job_def=jobs.get_pool_job(), job_code_origin=recon.get_python_origin())
                for _ in range(2)]
        logs = [tmp_path / f"worker{i}.log" for i in range(2)]
        workers = [_start_worker(instance, runs[0], logs[0])]
        _wait_until_holding_the_slot(instance, runs[0], workers[0], logs[0])
        workers.append(_start_worker(instance, runs[1], logs[1]))
        for worker in workers:
            worker.wait(timeout=240)
        for run in runs:
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS, \
                "\n".join(log.read_text()[-3000:] for log in logs)

        intervals = sorted(i for run in runs for i in _step_intervals(instance, run.run_id))
        assert len(intervals) == 4
        for (_, end, a), (start, _, b) in zip(intervals, intervals[1:], strict=False):
            assert start >= end, f"{b} started at {start:.2f} before {a} ended at {end:.2f}"
        # The limit really was contended: at least one step waited for the pool's slot.
        waits = [r for run in runs for r in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
                 if "concurrency" in (r.dagster_event.message or "").lower()
                 or "pool" in (r.dagster_event.message or "").lower()]
        assert waits
