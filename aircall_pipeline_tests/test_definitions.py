"""The code location loads as a deployment would load it: without credentials in the environment.
One asset graph whose partitions are account x day."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from aircall_pipeline.definitions import load_defs
from aircall_pipeline.ingest.partitions import ACCOUNT_DIM, DATE_DIM
from aircall_pipeline.names import (
    ACCESS_REVIEWS,
    ACCOUNTS_PARTITIONS,
    API_POOL,
    COMPLIANCE_GROUP,
    DAILY_JOB,
    OWNER_GROUP,
    RAW_GROUP,
    key,
)

ROOT = Path(__file__).resolve().parents[1]
defs = load_defs()


def test_definitions_load_and_job_resolves():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def(DAILY_JOB)
    # The daily job's partitions are one account's one day: the registry's accounts x the dates.
    partitions = job.partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert set(partitions.partition_dimension_names) == {ACCOUNT_DIM, DATE_DIM}
    accounts = partitions.get_partitions_def_for_dimension(ACCOUNT_DIM)
    assert isinstance(accounts, dg.DynamicPartitionsDefinition) and accounts.name == ACCOUNTS_PARTITIONS
    assert isinstance(partitions.get_partitions_def_for_dimension(DATE_DIM), dg.DailyPartitionsDefinition)


def test_every_asset_is_described_grouped_and_owned():
    graph = defs.resolve_asset_graph()
    for asset in graph.get_all_asset_keys():
        node = graph.get(asset)
        assert node.group_name in (RAW_GROUP, OWNER_GROUP, COMPLIANCE_GROUP), asset
        assert node.owners, asset
        assert node.description and len(node.description) > 40, asset
        # Everything is per account and evidence day, except the reviews: per account, observed as a
        # whole ("the newest review").
        if asset == key(ACCESS_REVIEWS):
            assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition), asset
            assert node.partitions_def.name == ACCOUNTS_PARTITIONS
        else:
            assert isinstance(node.partitions_def, dg.MultiPartitionsDefinition), asset
            assert set(node.partitions_def.partition_dimension_names) == {ACCOUNT_DIM, DATE_DIM}, asset


def test_api_steps_share_one_pool_and_checks_cover_completeness():
    graph = defs.resolve_asset_graph()
    raw = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == RAW_GROUP]
    assert raw and all(graph.get(k).pools == {API_POOL} for k in raw)
    blocking = {spec.name for spec in graph.asset_check_keys and
                [graph.get_check_spec(k) for k in graph.asset_check_keys] if spec.blocking}
    assert blocking == {"user_inventory", "calls_completeness"}


def test_dg_check_defs_passes_without_credentials():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRCALL_API_")}
    proc = subprocess.run([str(Path(sys.executable).parent / "dg"), "check", "defs", "--use-active-venv"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_limiter_password_is_in_no_configured_value_nor_the_stored_snapshot(monkeypatch):
    """What the UI's Resources page and the instance's stored snapshot show comes from the
    repository snapshot: it names the variable, never the password (userinfo or ?password=)."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    monkeypatch.setenv("AIRCALL_LIMITER_URL", "redis://:hunter2-pw@127.0.0.1:6390/0?password=query-pw")
    repo = load_defs().get_repository_def()
    snapshot = serialize_value(RepositorySnap.from_def(repo))
    assert "hunter2-pw" not in snapshot and "query-pw" not in snapshot
    assert "AIRCALL_LIMITER_URL" in snapshot
    config = repo.get_top_level_resources()["aircall"]
    assert "pw" not in str(getattr(config, "limiter_url", ""))


def test_a_tsa_url_query_is_in_no_configured_value_nor_the_stored_snapshot(monkeypatch):
    """A TSA access key in EVIDENCE_TSA_URL's query reaches the evidence resource as the variable."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    from aircall_pipeline.config.settings import Settings
    from aircall_pipeline.definitions import build_resources

    monkeypatch.setenv("EVIDENCE_TSA_URL", "https://tsa.example/stamp?key=tsa-s3cret")
    repo = load_defs().get_repository_def()
    snapshot = serialize_value(RepositorySnap.from_def(repo))
    assert "tsa-s3cret" not in snapshot and "EVIDENCE_TSA_URL" in snapshot
    evidence = build_resources(Settings.from_env())["evidence"]
    assert isinstance(evidence.tsa_urls, dg.EnvVar) and "tsa-s3cret" not in repr(evidence.tsa_urls)
    # Dagster resolves the variable when the run starts, so the URL still reaches the TSA client.
    assert evidence.tsa_urls.env_var_name == "EVIDENCE_TSA_URL"
    monkeypatch.setenv("EVIDENCE_TSA_URL", "https://tsa.example/stamp")
    assert build_resources(Settings.from_env())["evidence"].tsa_urls == "https://tsa.example/stamp"
