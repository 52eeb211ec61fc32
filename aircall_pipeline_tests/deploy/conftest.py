"""The production topology of deploy/docker-compose.yaml, without Docker: the same processes, commands
and instance file, as local processes on loopback.

    postgres   -> the real PostgreSQL of fixtures/servers.py
    redis      -> the real redis-server of fixtures/servers.py (AIRCALL_LIMITER_URL)
    s3         -> moto's S3 server (fixtures/s3.py), buckets made by deploy/scripts/create_buckets.py
    user_code  -> `dagster code-server start ... -m aircall_pipeline.definitions` (deploy/Dockerfile's CMD)
    daemon     -> `dagster-daemon run -w workspace.yaml` (the compose command)
    DAGSTER_HOME/dagster.yaml -> deploy/dagster.yaml, byte for byte

The environment of each process is split as in compose: only the user-code process gets the Aircall
key; the daemon and the CLI get the instance variables alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from aircall_pipeline_tests.fixtures.servers import free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent


def _bin(name: str) -> str:
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


@dataclass
class Deployment:
    home: Path
    workspace: Path
    db: str
    instance_env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            args, cwd=self.home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        proc._log = log  # type: ignore[attr-defined]
        proc._name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def run_cli(
        self, args: list[str], env: dict[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=self.home, env=env, capture_output=True, text=True, timeout=timeout)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # the group we created for this process
                except ProcessLookupError:
                    pass
        for proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            proc._log.close()  # type: ignore[attr-defined]


def base_env() -> dict[str, str]:
    """The test process' environment minus anything that would leak the host's AWS or Aircall setup."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIRCALL_", "ALERT_", "DAGSTER_"))
    }
    env.pop("EVIDENCE_URI", None)
    return env


@pytest.fixture
def deployment(tmp_path, postgres_server, s3_server) -> Iterator[Deployment]:
    """DAGSTER_HOME holding deploy/dagster.yaml unchanged, a fresh Postgres database, the S3 buckets."""
    db = postgres_server.create_database(f"dagster_{uuid.uuid4().hex[:8]}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_bytes((DEPLOY / "dagster.yaml").read_bytes())
    aws_config = tmp_path / "aws-none"
    aws_config.write_text("")
    instance_env = {
        **postgres_server.env(db),
        "DAGSTER_HOME": str(home),
        "DAGSTER_COMPUTE_LOG_BUCKET": f"dagster-logs-{uuid.uuid4().hex[:8]}",
        "DAGSTER_COMPUTE_LOG_PREFIX": "compute-logs",
        "AWS_ENDPOINT_URL_S3": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # moto's dummy credentials
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_config),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    deployment = Deployment(home, home / "workspace.yaml", db, instance_env, logs)
    try:
        yield deployment
    finally:
        deployment.stop_all()


def write_workspace(deployment: Deployment, port: int) -> Path:
    """deploy/workspace.yaml with the compose service name replaced by loopback."""
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    assert server["host"] == "user_code"  # the compose service name
    server["host"], server["port"] = "127.0.0.1", port
    deployment.workspace.write_text(yaml.safe_dump(workspace))
    return deployment.workspace


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, on_timeout: Callable[[], str] = str
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout:.0f}s\n{on_timeout()}")


def dockerfile_cmd() -> list[str]:
    import json
    import re

    text = (DEPLOY / "Dockerfile").read_text()
    return json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))


def free_tcp_port() -> int:
    return free_port()
