"""deploy/dagster.yaml against a real PostgreSQL, and the compose topology run for real without Docker.

1. The production instance file loads as a `DagsterInstance` (storage on Postgres, S3 compute logs,
   run queue: one run per account, the run cap, and the `aircall_api` pool sized like the cap) and
   creates Dagster's schema in the database.
2. The processes of deploy/docker-compose.yaml (code server with the Dockerfile's CMD, daemon and
   webserver with the compose commands, DefaultRunLauncher, QueuedRunCoordinator) register the
   sandbox account (the registry sensor, in Postgres) and run the daily job twice for its day, once
   from the CLI and once through the webserver's GraphQL API: both runs succeed, never overlap (the
   `aircall/account` run limit), and their runs, event logs
   and asset-check evaluations are rows in Postgres; step logs are objects in S3;
   `pg_dump`/`pg_restore` (the README's backup) round-trips the history.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from dagster_graphql import DagsterGraphQLClient

from aircall_pipeline.config.settings import DEFAULT_ACCOUNT_KEY
from aircall_pipeline.ingest.partitions import ACCOUNT_DIM, partition_key
from aircall_pipeline.names import ACCOUNT_TAG, ACCOUNTS_PARTITIONS, API_POOL, DAILY_JOB
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.owner_files import write_owner_files
from aircall_pipeline_tests.deploy.conftest import (
    DEPLOY,
    _bin,
    base_env,
    dockerfile_cmd,
    wait_until,
    write_workspace,
)
from aircall_pipeline_tests.fixtures.sandbox import sandbox_env
from aircall_pipeline_tests.fixtures.servers import free_port

# The run cap of deploy/dagster.yaml, and the `aircall_api` pool's limit sized like it.
MAX_RUNS = 4


def make_buckets(deployment, evidence_uri: str | None = None) -> str:
    """deploy/scripts/create_buckets.py, as the compose `s3_init` service runs it."""
    env = {**base_env(), **deployment.instance_env}
    if evidence_uri:
        env["EVIDENCE_URI"] = evidence_uri
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "scripts" / "create_buckets.py"), "--wait", "10"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def query(postgres_server, db: str, sql: str, *params):
    conn = postgres_server.connect(db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_deploy_instance_loads_on_postgres_with_its_pools_and_run_queue(
    deployment, postgres_server, monkeypatch
):
    import dagster as dg
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    out = make_buckets(deployment, evidence_uri=f"s3://evidence-{uuid.uuid4().hex[:8]}/aircall")
    assert "created with Object Lock (versioning on)" in out and "versioning Enabled" in out
    for name, value in deployment.instance_env.items():
        monkeypatch.setenv(name, value)

    with dg.DagsterInstance.from_config(str(deployment.home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"

        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == MAX_RUNS
        # Every account's API steps share the one pool: as large as the run cap, not one.
        assert config.pool_config.default_pool_limit == MAX_RUNS
        # One run per account: by the `aircall/account` tag, and by the partition's account.
        for key in (ACCOUNT_TAG, f"dagster/partition/{ACCOUNT_DIM}"):
            assert {"key": key, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in (
                config.run_queue_config.tag_concurrency_limits
            )
        # The limit row Dagster writes the first time it meets the pool, in Postgres.
        assert instance.event_log_storage.initialize_concurrency_limit_to_default(API_POOL)
        assert instance.event_log_storage.get_concurrency_info(API_POOL).slot_count == MAX_RUNS

    # An explicit limit is set with the README's command and stored in Postgres, where every run
    # and the daemon read it.
    cli = subprocess.run(
        [_bin("dagster"), "instance", "concurrency", "set", API_POOL, str(MAX_RUNS)],
        env={**base_env(), **deployment.instance_env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    tables = {row[0] for row in query(postgres_server, deployment.db, "select tablename from pg_tables")}
    assert {
        "runs",
        "run_tags",
        "event_logs",
        "asset_check_executions",
        "jobs",
        "concurrency_limits",
    } <= tables
    limits = query(postgres_server, deployment.db, 'select concurrency_key, "limit" from concurrency_limits')
    assert (API_POOL, MAX_RUNS) in limits


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:gql.*")  # inside dagster-graphql's client
def test_compose_topology_runs_the_daily_job_into_postgres(
    deployment, postgres_server, redis_server, make_sandbox, tmp_path
):
    # Snapshots can only be taken for the latest day (earlier days would be false evidence), so both
    # runs are for yesterday: a scheduled run and a manual rerun of the same account.
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    account = SandboxAccount(seed=11, calls=200, days=5)
    server = make_sandbox(account=account)
    make_buckets(deployment)
    evidence = tmp_path / "evidence"

    # user_code: the only process holding the Aircall key (compose: env_file .env).
    user_env = {
        **base_env(),
        **deployment.instance_env,
        **sandbox_env(server),
        **write_owner_files(account, tmp_path / "inputs"),
        "EVIDENCE_URI": str(evidence),
        "AIRCALL_LIMITER_URL": redis_server.url(7),
        "AIRCALL_PII_HASH_KEY": uuid.uuid4().hex,
        "AIRCALL_SCHEDULE_DEFAULT_STATUS": "stopped",  # only the runs this test launches
        "DAGSTER_WEBSERVER_URL": "http://127.0.0.1:3000",
        "DAGSTER_CURRENT_IMAGE": "aircall-pipeline:test",
    }
    # daemon and CLI: the instance variables only, as the compose daemon/webserver services.
    platform_env = {**base_env(), **deployment.instance_env}
    assert not any(k.startswith("AIRCALL_") for k in platform_env)

    port = free_port()
    cmd = dockerfile_cmd()
    assert cmd[:3] == ["dagster", "code-server", "start"]
    cmd = [_bin("dagster"), *cmd[1:]]
    cmd[cmd.index("-h") + 1] = "127.0.0.1"  # loopback here; 0.0.0.0 inside the container
    cmd[cmd.index("-p") + 1] = str(port)
    code_server = deployment.spawn("user_code", cmd, user_env)
    workspace = write_workspace(deployment, port)

    # The Dockerfile's HEALTHCHECK, polled as Docker would.
    health = [_bin("dagster"), "api", "grpc-health-check", "-p", str(port)]

    def healthy():
        assert code_server.poll() is None, deployment.log("user_code")
        return deployment.run_cli(health, platform_env, timeout=30).returncode == 0

    wait_until(healthy, 120, "code server healthy", lambda: deployment.log("user_code"))

    deployment.spawn("daemon", [_bin("dagster-daemon"), "run", "-w", str(workspace)], platform_env)
    # The webserver with the compose command (loopback instead of 0.0.0.0), healthy by the compose check.
    web_port = free_port()
    deployment.spawn(
        "webserver",
        [_bin("dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", str(workspace)],
        platform_env,
    )

    def web_healthy():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/server_info", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    wait_until(web_healthy, 120, "webserver /server_info", lambda: deployment.log("webserver")[-4000:])

    # The registry sensor (running by default, in the daemon) adds the account of the variables to the
    # `aircall_accounts` partitions: its days are then partitions runs can target.
    def registered():
        rows = query(
            postgres_server, deployment.db,
            "select partition from dynamic_partitions where partitions_def_name = %s", ACCOUNTS_PARTITIONS,
        )  # fmt: skip
        return [row[0] for row in rows] == [DEFAULT_ACCOUNT_KEY]

    wait_until(registered, 120, "the account registered", lambda: deployment.log("daemon")[-4000:])

    host = server.url.split("://", 1)[-1]
    account_tag = f"{host}/{sandbox_env(server)['AIRCALL_API_ID']}"  # what the scheduler tags runs with
    day = str(partition_key(DEFAULT_ACCOUNT_KEY, yesterday))
    tags = {"dagster/partition": day, ACCOUNT_TAG: account_tag}
    # The job itself runs in one process (operations/jobs.py), so no executor config is needed.
    run_config: dict = {}

    # Run 1: the operator's CLI.
    run_ids = [str(uuid.uuid4())]
    launched = deployment.run_cli(
        [
            _bin("dagster"), "job", "launch", "-w", str(workspace), "-j", DAILY_JOB,
            "--run-id", run_ids[0], "--tags", json.dumps(tags), "--config-json", json.dumps(run_config),
        ],
        platform_env,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stdout + launched.stderr
    # Run 2: what the UI's Launch button sends, through the webserver's GraphQL API.
    client = DagsterGraphQLClient("127.0.0.1", port_number=web_port)
    run_ids.append(client.submit_job_execution(DAILY_JOB, run_config=run_config, tags=tags))

    def finished():
        rows = query(
            postgres_server, deployment.db, "select run_id, status from runs where run_id = any(%s)", run_ids
        )
        statuses = dict(rows)
        if any(s in ("FAILURE", "CANCELED") for s in statuses.values()):
            raise AssertionError(f"run failed: {statuses}\n{deployment.log('user_code')[-5000:]}")
        return len(statuses) == 2 and all(s == "SUCCESS" for s in statuses.values())

    wait_until(
        finished, 240, "both runs SUCCESS",
        lambda: deployment.log("daemon")[-4000:] + "\n----\n" + deployment.log("user_code")[-4000:],
    )  # fmt: skip

    # Runs, tags, event logs and check evaluations are rows in Postgres.
    assert len(set(run_ids)) == 2
    runs = query(
        postgres_server, deployment.db,
        "select run_id, start_time, end_time from runs where run_id = any(%s) order by start_time", run_ids,
    )  # fmt: skip
    assert len(runs) == 2 and all(start and end for _, start, end in runs)
    (_, _, first_end), (_, second_start, _) = runs
    assert first_end <= second_start, (
        "two runs of one account overlapped: the aircall/account limit did not hold"
    )
    tags = query(
        postgres_server, deployment.db,
        "select run_id, key, value from run_tags where run_id = any(%s) and key in ('dagster/partition', %s)",
        run_ids, ACCOUNT_TAG,
    )  # fmt: skip
    assert len(tags) == 4 and {value for _, key, value in tags if key == "dagster/partition"} == {day}
    events = dict(
        query(
            postgres_server, deployment.db,
            "select dagster_event_type, count(*) from event_logs where run_id = any(%s) group by 1", run_ids,
        )
    )  # fmt: skip
    assert events.get("PIPELINE_SUCCESS") == 2, events  # RUN_SUCCESS keeps its legacy name in storage
    # Through the daemon's run queue: enqueued by `dagster job launch`, started by the daemon.
    assert events.get("PIPELINE_ENQUEUED") == 2 and events.get("PIPELINE_STARTING") == 2, sorted(
        events.items()
    )
    assert events.get("ASSET_MATERIALIZATION", 0) >= 2 * 10
    assert events.get("ASSET_CHECK_EVALUATION", 0) >= 2 * 10
    checks = query(
        postgres_server, deployment.db,
        "select run_id, count(*) from asset_check_executions where run_id = any(%s) group by 1", run_ids,
    )  # fmt: skip
    assert len(checks) == 2 and all(n >= 10 for _, n in checks)

    # The evidence itself.
    assert (evidence / "aircall" / "reports" / f"date={yesterday}" / "manifest.json").is_file()

    # Step output went to S3 (S3ComputeLogManager, endpoint from AWS_ENDPOINT_URL_S3 alone).
    s3 = boto3.client(
        "s3", endpoint_url=deployment.instance_env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106 - moto
    )  # fmt: skip
    listed = s3.list_objects_v2(
        Bucket=deployment.instance_env["DAGSTER_COMPUTE_LOG_BUCKET"], Prefix="compute-logs/"
    )
    assert listed.get("KeyCount", 0) > 0

    # The compose daemon healthcheck.
    liveness = deployment.run_cli([_bin("dagster-daemon"), "liveness-check"], platform_env, timeout=60)
    assert liveness.returncode == 0, liveness.stdout + liveness.stderr

    # The Aircall token never reached Postgres (the UI shows only the variable name).
    token = sandbox_env(server)["AIRCALL_API_TOKEN"]
    leaks = query(
        postgres_server, deployment.db, "select count(*) from event_logs where event like %s", f"%{token}%"
    )
    assert leaks == [(0,)]

    # The README's backup: pg_dump, restore into a new database, same history.
    dump = tmp_path / "dagster.dump"
    pg = {**base_env(), "PGPASSWORD": postgres_server.password}
    conn_args = ["-h", postgres_server.host, "-p", str(postgres_server.port), "-U", postgres_server.user]
    bin_dir = Path(postgres_server.bin_dir)
    subprocess.run(
        [str(bin_dir / "pg_dump"), *conn_args, "-Fc", "-f", str(dump), deployment.db],
        env=pg, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    restored = postgres_server.create_database(f"{deployment.db}_restored")
    subprocess.run(
        [str(bin_dir / "pg_restore"), *conn_args, "--no-owner", "-d", restored, str(dump)],
        env=pg, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    count_sql = "select (select count(*) from runs), (select count(*) from event_logs)"
    assert query(postgres_server, restored, count_sql) == query(postgres_server, deployment.db, count_sql)


def test_workspace_points_at_the_compose_code_server():
    import yaml

    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    assert server["host"] in compose["services"]
    assert f'"-p", "{server["port"]}"' in (DEPLOY / "Dockerfile").read_text()
    assert Path(DEPLOY / "Dockerfile").exists()
