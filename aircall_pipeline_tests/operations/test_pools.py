"""The `aircall_api` pool, with the repository's own dagster.yaml limit (default_limit: 1): two runs
launched at once, each with two API steps under the multiprocess executor, never call the API
concurrently. Run workers are the real ones (`dagster api execute_run`, as the run launcher starts)."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster import DagsterEventType
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

from aircall_pipeline_tests.operations import jobs

REPO_ROOT = Path(__file__).resolve().parents[2]


def _step_intervals(instance, run_id):
    starts, ends = {}, {}
    for record in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}):
        target = starts if record.dagster_event.event_type == DagsterEventType.STEP_START else ends
        target[record.step_key] = record.timestamp
    return [(starts[k], ends[k], f"{run_id[:8]}:{k}") for k in starts]


@pytest.mark.slow
def test_two_concurrent_runs_never_overlap_their_api_steps(tmp_path):
    concurrency = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["concurrency"]
    assert concurrency["pools"]["default_limit"] == 1
    with dg.instance_for_test(overrides={"concurrency": {"pools": concurrency["pools"]}}) as instance:
        recon = dg.reconstructable(jobs.get_pool_job)
        runs = [instance.create_run_for_job(job_def=jobs.get_pool_job(), job_code_origin=recon.get_python_origin())
                for _ in range(2)]
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "dagster", "api", "execute_run",
                 serialize_value(ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id,
                                                instance_ref=instance.get_ref()))],
                cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=(tmp_path / f"worker{i}.log").open("w"),
            )
            for i, run in enumerate(runs)
        ]
        for worker in workers:
            worker.wait(timeout=240)
        for run in runs:
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS, \
                (tmp_path / "worker0.log").read_text()[-3000:]

        intervals = sorted(i for run in runs for i in _step_intervals(instance, run.run_id))
        assert len(intervals) == 4
        for (_, end, a), (start, _, b) in zip(intervals, intervals[1:], strict=False):
            assert start >= end, f"{b} started at {start:.2f} before {a} ended at {end:.2f}"
        # The limit really was contended: at least one step waited for the pool's slot.
        waits = [r for run in runs for r in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
                 if "concurrency" in (r.dagster_event.message or "").lower()
                 or "pool" in (r.dagster_event.message or "").lower()]
        assert waits
