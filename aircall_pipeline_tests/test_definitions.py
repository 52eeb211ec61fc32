"""The code location loads as a deployment would load it: without credentials in the environment."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from aircall_pipeline.definitions import load_defs
from aircall_pipeline.names import ACCESS_REVIEWS, SINGLE_ACCOUNT

ROOT = Path(__file__).resolve().parents[1]
defs = load_defs()


def test_definitions_load_and_job_resolves():
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def(SINGLE_ACCOUNT.daily_job)
    assert job.partitions_def is not None


def test_every_asset_is_described_grouped_and_owned():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in ("aircall_raw", SINGLE_ACCOUNT.owner_group, "aircall_compliance"), key
        assert node.owners, key
        assert node.description and len(node.description) > 40, key
        # Everything is per evidence day, except the reviews: observed as a whole ("the newest review").
        assert (node.partitions_def is None) == (key == SINGLE_ACCOUNT.key(ACCESS_REVIEWS)), key


def test_api_steps_share_one_pool_and_checks_cover_completeness():
    graph = defs.resolve_asset_graph()
    raw = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "aircall_raw"]
    assert raw and all(graph.get(k).pools == {SINGLE_ACCOUNT.pool} for k in raw)
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

    from aircall_pipeline.definitions import build_resources
    from aircall_pipeline.settings import Settings

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
