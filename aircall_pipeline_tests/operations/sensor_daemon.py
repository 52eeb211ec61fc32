"""The real sensor daemon over the project's code location, one iteration at a time (shared by the
daemon tests: tamper alerts, the fleet of accounts)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def sensor_daemon(instance: dg.DagsterInstance) -> Iterator[Callable[[], None]]:
    """One code server for the test; each `tick()` is one iteration of the real sensor daemon, a few
    minutes after the last (past every sensor's minimum interval); the sensors themselves read the
    real clock in the code server."""
    target = ModuleTarget("aircall_pipeline.definitions", "defs", str(REPO_ROOT), "aircall_pipeline")
    clock = {"now": datetime.now(UTC)}
    with create_test_daemon_workspace_context(target, instance) as workspace:
        def tick() -> None:
            clock["now"] += timedelta(minutes=5)
            with freeze_time(clock["now"]):
                list(execute_sensor_iteration(workspace, logging.getLogger("sensors"), None, None))

        yield tick
