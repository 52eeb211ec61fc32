"""The access reviews as a Dagster asset (issue 12): one `aircall/access_reviews` asset partitioned
by account, observed from each account's evidence store (the registry says where) in a real Dagster
instance, so the UI shows the newest review of each account's partition, by the Observe button (the
implicit asset job, one run per account partition) and by the one reviews sensor, run by the real
sensor daemon, that watches every registered account. The reviews are imported with the real
`aircall-pipeline review` commands into local evidence folders."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.sensor import execute_sensor_iteration

from aircall_pipeline.cli import main
from aircall_pipeline.compliance import review_assets
from aircall_pipeline.compliance.review_assets import NO_REVIEW, UNCHECKED, build_review_sensor
from aircall_pipeline.config.settings import DEFAULT_ACCOUNT_KEY, Settings
from aircall_pipeline.definitions import build_defs, build_resources, load_defs
from aircall_pipeline.evidence.signing import load_signer
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import (
    ACCESS_REVIEWS,
    ACCOUNTS_PARTITIONS,
    ACCOUNTS_RESOURCE,
    COMPLIANCE_GROUP,
    EVIDENCE_RESOURCE,
    OWNERS,
    REVIEWS_SENSOR,
    key,
)
from aircall_pipeline.operations.registry_sensor import build_registry_sensor
from aircall_pipeline_tests.compliance.test_review import DAY, fill, seal_review_day, stored_review
from aircall_pipeline_tests.partitions import registered

ACCOUNTS = ("acme_eu", "acme_us")
TIMEZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo")
REVIEWS = key(ACCESS_REVIEWS)
REPO_ROOT = Path(__file__).resolve().parents[2]


def accounts_file(tmp_path: Path, names: tuple[str, ...] = ACCOUNTS) -> Path:
    """The registry: named accounts, each with its own local evidence folder and timezone."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts:\n" + "".join(
        f"  - name: {name}\n    api_id_env: AIRCALL_{name.upper()}_API_ID\n"
        f"    api_token_env: AIRCALL_{name.upper()}_API_TOKEN\n    evidence_uri: {tmp_path / name}\n"
        f"    timezone: {tz}\n"
        for name, tz in zip(names, TIMEZONES, strict=False)))
    return path


def settings_for(tmp_path, monkeypatch, signing_key: str | None, names: tuple[str, ...] = ACCOUNTS) -> Settings:
    """The environment of a deployment of `names` (accounts file), signed with `signing_key`: the
    registry the assets read at run time, and the settings the definitions are built from."""
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(accounts_file(tmp_path, names)))
    monkeypatch.delenv("AIRCALL_ROLES_URI", raising=False)
    if signing_key:
        monkeypatch.setenv("EVIDENCE_SIGNING_KEY", signing_key)
    else:
        monkeypatch.delenv("EVIDENCE_SIGNING_KEY", raising=False)
    return Settings.from_env()


def newest(instance: dg.DagsterInstance, account: str, limit: int = 1) -> list[dg.AssetObservation]:
    """The newest observations of `account`'s partition of the reviews asset, oldest first."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=REVIEWS, asset_partitions=[account]), limit=limit).records
    return [r.asset_observation for r in reversed(records)]


def observe(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, dg.AssetObservation]:
    """Observe every account's reviews as the UI's Observe button does (the implicit asset job, one
    run per account partition), and return each account's newest observation."""
    registered(instance, *ACCOUNTS)
    job = defs.resolve_implicit_global_asset_job_def()
    for name in ACCOUNTS:
        result = job.execute_in_process(asset_selection=[REVIEWS], partition_key=name, instance=instance)
        assert result.success
    return {name: newest(instance, name)[0] for name in ACCOUNTS}


def shown(observation: dg.AssetObservation) -> dict:
    return {name: value.value for name, value in observation.metadata.items()}


def version(observation: dg.AssetObservation) -> str:
    return observation.tags["dagster/data_version"]


def test_the_ui_shows_the_newest_review_of_each_account(tmp_path, key_pair, monkeypatch, capsys):
    settings = settings_for(tmp_path, monkeypatch, f"file:{key_pair[0]}")
    defs = build_defs(settings)
    eu = EvidenceStore.from_uri(tmp_path / "acme_eu")
    seal_review_day(eu, load_signer(f"file:{key_pair[0]}"))
    with dg.instance_for_test() as instance:
        before = observe(defs, instance)
        assert {version(o) for o in before.values()} == {NO_REVIEW}
        assert shown(before["acme_eu"])["review_date"] == "none"
        # Each partition shows its own account's store, as the registry places it.
        assert {name: shown(o)["evidence_uri"] for name, o in before.items()} == {
            name: EvidenceStore.from_uri(tmp_path / name).uri for name in ACCOUNTS}

        # The review workflow, with the real commands, for the account the registry names.
        review_csv = tmp_path / "review.csv"
        assert main(["review", "export", eu.uri, "--account", "acme_eu", "--date", DAY, "--out", str(review_csv)]) == 0
        review_csv.write_bytes(fill(review_csv.read_bytes(), {101: "keep", 102: "remove", 103: "keep"}))
        assert main(["review", "import", eu.uri, "--account", "acme_eu", "--date", DAY, str(review_csv),
                     "--reviewer", "ciso@example.com"]) == 0
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
        # The other account's partition holds no review: it says so, whatever acme_eu holds.
        assert version(after["acme_us"]) == NO_REVIEW

        # Observing again without a new review is not a new version; a newer review is.
        assert version(observe(defs, instance)["acme_eu"]) == version(after["acme_eu"])
        stored_review(eu, load_signer(f"file:{key_pair[0]}"), None, {101: "keep", 102: "keep", 103: "keep"},
                      datetime(2026, 3, 20, tzinfo=UTC))
        newer = observe(defs, instance)["acme_eu"]
        assert version(newer) != version(after["acme_eu"]) and shown(newer)["remove"] == 0


@pytest.mark.parametrize("configured, expected", [("other", "foreign"), (None, UNCHECKED)])
def test_the_signature_is_checked_against_the_evidence_key(
    tmp_path, monkeypatch, key_pair, other_key_pair, configured, expected,
):
    """A review the evidence key did not sign shows `foreign` (AC-16 does not count it, and nothing it
    says is read); without an evidence key the signature cannot be checked, and the UI says so."""
    eu = EvidenceStore.from_uri(tmp_path / "acme_eu")
    insider = load_signer(f"file:{other_key_pair[0]}")
    seal_review_day(eu, insider)
    stored_review(eu, insider, None, {101: "keep", 102: "keep", 103: "keep"}, datetime(2026, 3, 14, tzinfo=UTC))
    signing_key = f"file:{key_pair[0]}" if configured == "other" else None
    with dg.instance_for_test() as instance:
        meta = shown(observe(build_defs(settings_for(tmp_path, monkeypatch, signing_key)), instance)["acme_eu"])
    assert meta["signature"] == expected
    assert meta.get("reviewer") == ("" if configured else "ciso@example.com")


def test_one_reviews_asset_partitioned_by_account_and_one_sensor_for_all(tmp_path, monkeypatch):
    """Each account's reviews are its partition of the one asset, and one sensor watches them all:
    the definitions are the same with one account or two."""
    defs = build_defs(settings_for(tmp_path, monkeypatch, None))
    node = defs.resolve_asset_graph().get(REVIEWS)
    assert node.is_observable and not node.is_materializable
    assert node.group_name == COMPLIANCE_GROUP and list(node.owners) == OWNERS
    assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
    assert node.partitions_def.name == ACCOUNTS_PARTITIONS
    instance = registered(None, *ACCOUNTS)
    assert node.partitions_def.get_partition_keys(dynamic_partitions_store=instance) == list(ACCOUNTS)
    (sensor,) = [s for s in defs.sensors if s.name.startswith(REVIEWS_SENSOR)]
    assert sensor.name == REVIEWS_SENSOR and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    one = build_defs(settings_for(tmp_path / "one", monkeypatch, None, names=ACCOUNTS[:1]))
    assert sorted(s.name for s in one.sensors) == sorted(s.name for s in defs.sensors)
    assert one.resolve_asset_graph().get(REVIEWS).partitions_def == node.partitions_def


def test_the_sensor_observes_each_registered_account_and_records_a_change_once(tmp_path, key_pair, monkeypatch):
    """The one sensor, ticked with the cursor it left: an observation of each registered account's
    partition when its newest review changed, none otherwise; an account not yet registered waits."""
    settings = settings_for(tmp_path, monkeypatch, f"file:{key_pair[0]}")
    resources = build_resources(settings)
    sensor = build_review_sensor()
    signer = load_signer(f"file:{key_pair[0]}")
    eu = EvidenceStore.from_uri(tmp_path / "acme_eu")
    seal_review_day(eu, signer)
    with dg.instance_for_test() as instance:
        cursor: dict = {"value": None}

        def tick() -> list[dg.AssetObservation]:
            with dg.build_sensor_context(instance=instance, cursor=cursor["value"], resources={
                    ACCOUNTS_RESOURCE: resources[ACCOUNTS_RESOURCE],
                    EVIDENCE_RESOURCE: resources[EVIDENCE_RESOURCE]}) as context:
                data = sensor.evaluate_tick(context)  # as the daemon evaluates it
            cursor["value"] = data.cursor
            return list(data.asset_events)

        registered(instance, "acme_eu")
        (first,) = tick()
        assert (first.asset_key, first.partition, version(first)) == (REVIEWS, "acme_eu", NO_REVIEW)
        assert tick() == []
        registered(instance, "acme_us")
        assert [(o.partition, version(o)) for o in tick()] == [("acme_us", NO_REVIEW)]
        stored_review(eu, signer, None, {101: "keep", 102: "remove", 103: "keep"}, datetime(2026, 3, 14, tzinfo=UTC))
        (changed,) = tick()
        assert changed.partition == "acme_eu" and version(changed).startswith(f"aircall/reviews/date={DAY}/")
        assert shown(changed)["signature"] == "valid" and shown(changed)["remove"] == 1
        assert tick() == []


class SensorTicks:
    """The reviews sensor ticked as the daemon does, each tick with the cursor the last one left;
    counts the stores each tick read."""

    def __init__(self, instance: dg.DagsterInstance, settings: Settings, sensor: dg.SensorDefinition,
                 monkeypatch, cursor: str | None = None):
        self.instance, self.sensor, self.cursor, self.reads = instance, sensor, cursor, []
        resources = build_resources(settings)
        self.resources = {ACCOUNTS_RESOURCE: resources[ACCOUNTS_RESOURCE],
                          EVIDENCE_RESOURCE: resources[EVIDENCE_RESOURCE]}
        observe_reviews = review_assets.observe_reviews

        def counted(evidence, asset_key, account):
            self.reads[-1].append(account.key)
            return observe_reviews(evidence, asset_key, account)

        monkeypatch.setattr(review_assets, "observe_reviews", counted)

    def __call__(self) -> list[tuple[str, str]]:
        """One tick: (account, data version) of each observation recorded."""
        self.reads.append([])
        with dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources) as ctx:
            data = self.sensor.evaluate_tick(ctx)
        self.cursor = data.cursor
        return [(o.partition, version(o)) for o in data.asset_events]


def test_a_tick_reads_a_bounded_number_of_stores_new_accounts_first_then_each_in_turn(
        tmp_path, key_pair, monkeypatch):
    """At a thousand accounts a tick must not read a thousand stores: it reads `reads_per_tick` at
    most, accounts never observed first, then the others in turn, so each account's new review is
    recorded within ceil(accounts / reads_per_tick) ticks, once."""
    names = ("a1", "a2", "a3")
    settings = settings_for(tmp_path, monkeypatch, f"file:{key_pair[0]}", names=names)
    signer = load_signer(f"file:{key_pair[0]}")
    a3 = EvidenceStore.from_uri(tmp_path / "a3")
    seal_review_day(a3, signer)
    with dg.instance_for_test() as instance:
        tick = SensorTicks(instance, settings, build_review_sensor(reads_per_tick=2), monkeypatch)
        registered(instance, *names)
        assert tick() == [("a1", NO_REVIEW), ("a2", NO_REVIEW)]
        assert tick() == [("a3", NO_REVIEW)]  # the new account first, then one in turn
        assert tick.reads[:2] == [["a1", "a2"], ["a3", "a1"]]
        stored_review(a3, signer, None, {101: "keep", 102: "remove", 103: "keep"}, datetime(2026, 3, 14, tzinfo=UTC))
        recorded = [tick() for _ in range(4)]
        assert all(len(r) <= 2 for r in tick.reads)
        assert [v for r in recorded for v in r if v[0] == "a3"][0][1].startswith(f"aircall/reviews/date={DAY}/")
        assert recorded[0] or recorded[1], "a3's new review waited longer than ceil(3 / 2) ticks"
        assert sum(len(r) for r in recorded) == 1  # recorded once, nothing else changed
        # Every account is read in turn: the reads of any two consecutive ticks cover all three.
        for first, second in zip(tick.reads[2:], tick.reads[3:], strict=False):
            assert set(first) | set(second) == set(names)


@pytest.mark.parametrize("cursor, recorded", [
    ('{"acme_eu": "none"}', [("acme_us", NO_REVIEW)]),  # an earlier release's cursor: versions alone
    ("not json", [("acme_eu", NO_REVIEW), ("acme_us", NO_REVIEW)]),
    ("[1, 2]", [("acme_eu", NO_REVIEW), ("acme_us", NO_REVIEW)]),
    ('{"versions": {"acme_eu": "none"}, "turn": -3}', [("acme_us", NO_REVIEW)]),
])
def test_the_cursor_of_an_earlier_release_is_kept_and_an_unreadable_one_starts_afresh(
        tmp_path, monkeypatch, cursor, recorded):
    settings = settings_for(tmp_path, monkeypatch, None)
    with dg.instance_for_test() as instance:
        registered(instance, *ACCOUNTS)
        tick = SensorTicks(instance, settings, build_review_sensor(), monkeypatch, cursor=cursor)
        assert tick() == recorded
        assert tick() == []


def test_an_account_registered_after_a_tick_is_observed_within_the_registry_interval():
    """The registry and reviews sensors tick side by side: when the reviews sensor ticks before an
    account is registered, the account waits for its next tick, so that tick must come within the
    registry's own interval, not a quarter of an hour later (the UI test found it)."""
    assert build_review_sensor().minimum_interval_seconds <= build_registry_sensor().minimum_interval_seconds


def _sensor_ticks(instance: dg.DagsterInstance, times: list[datetime]) -> None:
    """The real sensor daemon's iterations over the project's code location (a gRPC code server
    started from the environment), at frozen times."""
    target = ModuleTarget("aircall_pipeline.definitions", "defs", str(REPO_ROOT), "aircall_pipeline")
    with create_test_daemon_workspace_context(target, instance) as workspace:
        for now in times:
            with freeze_time(now):
                list(execute_sensor_iteration(workspace, logging.getLogger("sensors"), None, None))


def observations(instance: dg.DagsterInstance, name: str) -> list[dg.AssetObservation]:
    return newest(instance, name, limit=10)  # oldest first


@pytest.mark.slow
def test_the_sensor_records_a_new_review_once(tmp_path, key_pair, monkeypatch):
    settings_for(tmp_path, monkeypatch, f"file:{key_pair[0]}")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    signer = load_signer(f"file:{key_pair[0]}")
    eu = EvidenceStore.from_uri(tmp_path / "acme_eu")
    seal_review_day(eu, signer)
    start = datetime.now(UTC)
    with dg.instance_for_test() as instance:
        # The registry sensor registers the accounts of the file; the reviews sensor observes each
        # registered account (in the same iteration or at its next tick, whichever runs first).
        _sensor_ticks(instance, [start, start + timedelta(minutes=16)])
        assert sorted(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS)) == sorted(ACCOUNTS)
        assert [version(o) for o in observations(instance, "acme_eu")] == [NO_REVIEW]
        stored_review(eu, signer, None, {101: "keep", 102: "remove", 103: "keep"}, start)
        # The next ticks past the sensor's interval: one observation of the new review, then none
        # while nothing changes; the other account still has no review.
        _sensor_ticks(instance, [start + timedelta(minutes=32), start + timedelta(minutes=48)])
        seen = observations(instance, "acme_eu")
        assert len(seen) == 2 and version(seen[1]).startswith(f"aircall/reviews/date={DAY}/attestation.json@")
        assert shown(seen[1])["signature"] == "valid" and shown(seen[1])["remove"] == 1
        assert [version(o) for o in observations(instance, "acme_us")] == [NO_REVIEW]


def test_with_unusable_settings_observing_fails_with_their_error_and_no_sensor_watches(tmp_path, monkeypatch):
    """The definitions built from the defaults (settings unusable) must not show the default store's
    reviews as if they were the account's: no sensor watches them, and Observe of the single
    account's partition fails with the settings' error, like every run (the registry cannot say
    where its store is)."""
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(tmp_path / "nowhere.yaml"))
    defs = load_defs()
    assert not [s for s in defs.sensors if s.name.startswith(REVIEWS_SENSOR)]
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=[REVIEWS], partition_key=DEFAULT_ACCOUNT_KEY, instance=registered(instance),
            raise_on_error=False)
        assert not result.success
        assert not instance.fetch_observations(REVIEWS, limit=1).records
    failure = next(e for e in result.all_events if e.is_failure)
    assert "nowhere.yaml" in str(failure.event_specific_data.error)
