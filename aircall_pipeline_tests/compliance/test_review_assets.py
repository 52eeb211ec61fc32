"""The access reviews as a Dagster asset (issue 12): observed from each account's evidence store in a
real Dagster instance, so the UI shows the newest review per account, by the Observe button (the
implicit asset job) and by each account's sensor run by the real sensor daemon. The reviews are
imported with the real `aircall-pipeline review` commands into local evidence folders."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration

from aircall_pipeline.cli import main
from aircall_pipeline.compliance.review_assets import NO_REVIEW, UNCHECKED
from aircall_pipeline.definitions import build_defs, load_defs
from aircall_pipeline.evidence.signing import load_signer
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import ACCESS_REVIEWS, REVIEWS_SENSOR, Names
from aircall_pipeline.settings import Account, Settings
from aircall_pipeline_tests.compliance.test_review import DAY, fill, seal_review_day, stored_review

ACCOUNTS = ("acme_eu", "acme_us")
REPO_ROOT = Path(__file__).resolve().parents[2]


def settings_for(tmp_path, signing_key: str | None) -> Settings:
    """Two named accounts, each with its own local evidence folder, signed with `signing_key`."""
    base = replace(Settings.defaults(), signing_key=signing_key)
    accounts = tuple(
        Account(name=name, api_url=base.default_account.api_url, evidence_uri=str(tmp_path / name), timezone=tz,
                rate_limit_per_minute=60, schedule_cron=base.default_account.schedule_cron)
        for name, tz in zip(ACCOUNTS, ("Europe/Paris", "America/New_York"), strict=True)
    )
    return replace(base, named_accounts=accounts)


def observe(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, dg.AssetObservation]:
    """Observe every account's reviews as the UI's Observe button does (the implicit asset job), and
    return each account's newest observation."""
    keys = [Names(name).key(ACCESS_REVIEWS) for name in ACCOUNTS]
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(asset_selection=keys, instance=instance)
    assert result.success
    return {name: instance.fetch_observations(key, limit=1).records[0].asset_observation
            for name, key in zip(ACCOUNTS, keys, strict=True)}


def shown(observation: dg.AssetObservation) -> dict:
    return {name: value.value for name, value in observation.metadata.items()}


def version(observation: dg.AssetObservation) -> str:
    return observation.tags["dagster/data_version"]


def test_the_ui_shows_the_newest_review_of_each_account(tmp_path, key_pair, monkeypatch, capsys):
    settings = settings_for(tmp_path, f"file:{key_pair[0]}")
    defs = build_defs(settings)
    eu = EvidenceStore.from_uri(tmp_path / "acme_eu")
    seal_review_day(eu, load_signer(f"file:{key_pair[0]}"))
    with dg.instance_for_test() as instance:
        before = observe(defs, instance)
        assert {version(o) for o in before.values()} == {NO_REVIEW}
        assert shown(before["acme_eu"])["review_date"] == "none"

        # The review workflow, with the real commands.
        monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{key_pair[0]}")
        monkeypatch.delenv("AIRCALL_ROLES_URI", raising=False)
        monkeypatch.delenv("AIRCALL_ACCOUNTS_FILE", raising=False)
        review_csv = tmp_path / "review.csv"
        assert main(["review", "export", eu.uri, "--date", DAY, "--out", str(review_csv)]) == 0
        review_csv.write_bytes(fill(review_csv.read_bytes(), {101: "keep", 102: "remove", 103: "keep"}))
        assert main(["review", "import", eu.uri, "--date", DAY, str(review_csv), "--reviewer", "ciso@example.com"]) == 0
        capsys.readouterr()

        after = observe(defs, instance)
        meta = shown(after["acme_eu"])
        path = f"aircall/reviews/date={DAY}/attestation.json"
        sha = hashlib.sha256((tmp_path / "acme_eu" / path).read_bytes()).hexdigest()
        assert (meta["review_date"], meta["reviewer"], meta["keep"], meta["remove"], meta["users"]) == (
            DAY, "ciso@example.com", 2, 1, 3)
        assert meta["signature"] == "valid"
        assert meta["attestation"] == path and meta["attestation_sha256"] == sha
        assert meta["snapshot_sha256"] == eu.read_manifest(DAY).sha256
        assert version(after["acme_eu"]) == f"{path}@{sha}"
        # The other account's store holds no review: its asset says so, whatever acme_eu holds.
        assert version(after["acme_us"]) == NO_REVIEW

        # Observing again without a new review is not a new version; a newer review is.
        assert version(observe(defs, instance)["acme_eu"]) == version(after["acme_eu"])
        stored_review(eu, load_signer(f"file:{key_pair[0]}"), None, {101: "keep", 102: "keep", 103: "keep"},
                      datetime(2026, 3, 20, tzinfo=UTC))
        newer = observe(defs, instance)["acme_eu"]
        assert version(newer) != version(after["acme_eu"]) and shown(newer)["remove"] == 0


@pytest.mark.parametrize("configured, expected", [("other", "foreign"), (None, UNCHECKED)])
def test_the_signature_is_checked_against_the_evidence_key(tmp_path, key_pair, other_key_pair, configured, expected):
    """A review the evidence key did not sign shows `foreign` (AC-16 does not count it, and nothing it
    says is read); without an evidence key the signature cannot be checked, and the UI says so."""
    eu = EvidenceStore.from_uri(tmp_path / "acme_eu")
    insider = load_signer(f"file:{other_key_pair[0]}")
    seal_review_day(eu, insider)
    stored_review(eu, insider, None, {101: "keep", 102: "keep", 103: "keep"}, datetime(2026, 3, 14, tzinfo=UTC))
    signing_key = f"file:{key_pair[0]}" if configured == "other" else None
    with dg.instance_for_test() as instance:
        meta = shown(observe(build_defs(settings_for(tmp_path, signing_key)), instance)["acme_eu"])
    assert meta["signature"] == expected
    assert meta.get("reviewer") == ("" if configured else "ciso@example.com")


def test_each_account_has_its_reviews_asset_and_sensor(tmp_path):
    defs = build_defs(settings_for(tmp_path, None))
    graph = defs.resolve_asset_graph()
    for name in ACCOUNTS:
        names = Names(name)
        node = graph.get(names.key(ACCESS_REVIEWS))
        assert node.is_observable and not node.is_materializable
        assert node.group_name == names.compliance_group and node.owners
        sensor = defs.resolve_sensor_def(names.sensor(REVIEWS_SENSOR))
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def _sensor_ticks(instance: dg.DagsterInstance, times: list[datetime]) -> None:
    """The real sensor daemon's iterations over the project's code location (a gRPC code server
    started from the environment), at frozen times."""
    target = ModuleTarget("aircall_pipeline.definitions", "defs", str(REPO_ROOT), "aircall_pipeline")
    with create_test_daemon_workspace_context(target, instance) as workspace:
        for now in times:
            with freeze_time(now):
                list(execute_sensor_iteration(workspace, logging.getLogger("sensors"), None, None))


def observations(instance: dg.DagsterInstance, name: str) -> list[dg.AssetObservation]:
    records = instance.fetch_observations(Names(name).key(ACCESS_REVIEWS), limit=10).records
    return [r.asset_observation for r in reversed(records)]  # oldest first


@pytest.mark.slow
def test_the_sensor_records_a_new_review_once(tmp_path, key_pair, monkeypatch):
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n" + "".join(
        f"  - name: {name}\n    api_id_env: AIRCALL_{name.upper()}_API_ID\n"
        f"    api_token_env: AIRCALL_{name.upper()}_API_TOKEN\n    evidence_uri: {tmp_path / name}\n"
        for name in ACCOUNTS))
    for variable, value in {"AIRCALL_ACCOUNTS_FILE": str(accounts), "EVIDENCE_SIGNING_KEY": f"file:{key_pair[0]}",
                            "DAGSTER_HOME": str(tmp_path / "home")}.items():
        monkeypatch.setenv(variable, value)
    signer = load_signer(f"file:{key_pair[0]}")
    eu = EvidenceStore.from_uri(tmp_path / "acme_eu")
    seal_review_day(eu, signer)
    start = datetime.now(UTC)
    with dg.instance_for_test() as instance:
        _sensor_ticks(instance, [start])
        assert [version(o) for o in observations(instance, "acme_eu")] == [NO_REVIEW]
        stored_review(eu, signer, None, {101: "keep", 102: "remove", 103: "keep"}, start)
        # The next ticks past the sensor's interval: one observation of the new review, then none
        # while nothing changes; the other account still has no review.
        _sensor_ticks(instance, [start + timedelta(minutes=16), start + timedelta(minutes=32)])
        seen = observations(instance, "acme_eu")
        assert len(seen) == 2 and version(seen[1]).startswith(f"aircall/reviews/date={DAY}/attestation.json@")
        assert shown(seen[1])["signature"] == "valid" and shown(seen[1])["remove"] == 1
        assert [version(o) for o in observations(instance, "acme_us")] == [NO_REVIEW]


def test_with_unusable_settings_observing_fails_with_their_error_and_no_sensor_watches(tmp_path, monkeypatch):
    """The definitions built from the defaults (settings unusable) must not show the default store's
    reviews as if they were the account's: no sensor watches it, and Observe fails with the settings'
    error, like every run (the single account's IO manager is the failing stand-in)."""
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(tmp_path / "nowhere.yaml"))
    defs = load_defs()
    assert not [s for s in defs.sensors if s.name.startswith(REVIEWS_SENSOR)]
    key = Names().key(ACCESS_REVIEWS)
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=[key], instance=instance, raise_on_error=False)
        assert not result.success
        assert not instance.fetch_observations(key, limit=1).records
    failure = next(e for e in result.all_events if e.is_failure)
    assert "nowhere.yaml" in str(failure.event_specific_data.error)
