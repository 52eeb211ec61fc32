"""The access reviews (AC-16) as a Dagster asset, observed from the evidence store.

A review is not computed by the pipeline: a person completes it and `aircall-pipeline review import`
stores it (see review.py). Dagster therefore *observes* it: the observation reads the account's
store, finds the newest sealed review on or before today (in the account's timezone), checks its
attestation's signature against the evidence key, and reports who reviewed which day, when, with
how many keeps and removes. Its data version is the attestation's path and SHA-256, so the UI marks a
new version exactly when a new review (or a new attempt of one) is stored.

The asset is partitioned by account (the `aircall_accounts` dimension alone). When it is observed:
the one `aircall_access_reviews` sensor ticks every minute and reads up to 100 accounts' stores a
tick (an account just registered first, then the others in turn, so each is read at least every
10 minutes at 1,000 accounts), and records an observation of an account's partition only when its
newest review changed (no run, no API call, no event-log noise); Observe on the asset's page does the
same at once. The daily job does not select it: a UI
launch of the job would leave it out anyway ("Materialize all" skips observable assets).
AC-16, the rule that judges the review every day, stays in assets.py and reads the store itself.
"""

import hashlib
import json
import warnings
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from aircall_pipeline.compliance.assets import trusted_key
from aircall_pipeline.config.settings import Account
from aircall_pipeline.ingest.partitions import ACCOUNTS
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
from aircall_pipeline.resources.evidence import EvidenceResource
from aircall_pipeline.resources.evidence_io_manager import markdown_text

# The data version before any review is stored: one stable value, so "no review" is not a change.
NO_REVIEW = "none"
# `signature` when no evidence key is configured: the attestation cannot be checked (AC-16 fails it).
UNCHECKED = "unchecked"
# Where Dagster reads an observation's data version from (an observation reported by a sensor
# carries it as this tag, as the observe function's ObserveResult does).
DATA_VERSION_TAG = "dagster/data_version"
# A short interval, so an account registered after a tick is observed within a minute, not a
# whole interval later (the registry sensor ticks beside this one); a bounded number of stores read
# per tick, so the cost of a tick does not grow with the fleet.
SENSOR_INTERVAL_SECONDS = 60
READS_PER_TICK = 100


def review_observation(
    key: dg.AssetKey, review: dict | None, attestation_sha256: str | None, store_uri: str
) -> dg.ObserveResult:
    """What the UI shows for the newest review (`store.latest_review`), or for none."""
    if review is None:
        return dg.ObserveResult(
            asset_key=key,
            data_version=dg.DataVersion(NO_REVIEW),
            metadata={
                "review_date": dg.MetadataValue.text("none"),
                "evidence_uri": dg.MetadataValue.text(store_uri),
                "summary": dg.MetadataValue.md(
                    "No access review is stored yet: `aircall-pipeline review export`, have it completed, "
                    "then `aircall-pipeline review import`."),
            },
        )
    signature = review.get("signature") or UNCHECKED
    snapshot = review.get("snapshot") or {}
    metadata = {
        "review_date": dg.MetadataValue.text(str(review["date"])),
        "reviewer": dg.MetadataValue.text(str(review.get("reviewer") or "")),
        "reviewed_at": dg.MetadataValue.text(str(review.get("reviewed_at") or "")),
        "users": dg.MetadataValue.int(int(review.get("users") or 0)),
        "keep": dg.MetadataValue.int(int(review.get("keep") or 0)),
        "remove": dg.MetadataValue.int(int(review.get("remove") or 0)),
        "signature": dg.MetadataValue.text(signature),
        "attestation": dg.MetadataValue.text(str(review["path"])),
        "attestation_sha256": dg.MetadataValue.text(attestation_sha256 or ""),
        "snapshot_manifest": dg.MetadataValue.text(str(snapshot.get("path") or "")),
        "snapshot_sha256": dg.MetadataValue.text(str(snapshot.get("sha256") or "")),
        "evidence_uri": dg.MetadataValue.text(store_uri),
        "summary": dg.MetadataValue.md(
            f"Review of **{markdown_text(review['date'])}** by {markdown_text(review.get('reviewer'))} at "
            f"{markdown_text(review.get('reviewed_at'))}: {int(review.get('keep') or 0)} keep, "
            f"{int(review.get('remove') or 0)} remove; signature {markdown_text(signature)}."),
    }
    return dg.ObserveResult(asset_key=key, data_version=dg.DataVersion(f"{review['path']}@{attestation_sha256}"),
                            metadata=metadata)


def observe_reviews(evidence: EvidenceResource, asset_key: dg.AssetKey, account: Account) -> dg.ObserveResult:
    """The newest review of `account` on or before today (in its timezone), as the UI shows it."""
    store = evidence.store_for(account)
    today = datetime.now(ZoneInfo(account.timezone)).date()
    review = store.latest_review(today, trusted_key(evidence))
    # The attestation is write-once (a new review is a new attempt file), so its hash names it.
    sha = hashlib.sha256(store.backend.get(review["path"])).hexdigest() if review else None
    return review_observation(asset_key, review, sha, store.uri)


def build_review_observation() -> dg.AssetsDefinition:
    """The `access_reviews` asset, in the compliance group, partitioned by account only (a review
    is the account's, not a day's): each observation is of one account's partition."""
    spec = dg.AssetSpec(
        key(ACCESS_REVIEWS),
        group_name=COMPLIANCE_GROUP,
        owners=OWNERS,
        kinds={"python", "parquet"},
        partitions_def=ACCOUNTS,
        description="AC-16 access reviews, as stored by `aircall-pipeline review import`: the newest review's "
                    "date, reviewer, time, keep and remove counts, and whether its attestation is signed by the "
                    "evidence key. Observed from the evidence store, never computed.",
    )

    # Observable assets are marked beta in 1.13 (both decorators); this is the one place we use them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)

        @dg.multi_observable_source_asset(specs=[spec], name="observe_access_reviews",
                                          required_resource_keys={ACCOUNTS_RESOURCE, EVIDENCE_RESOURCE})
        def _observe(context: dg.AssetExecutionContext):
            account = context.resources.accounts.account(context.partition_key)
            yield observe_reviews(context.resources.evidence, spec.key, account)

    return _observe


def build_review_sensor(*, minimum_interval_seconds: int = SENSOR_INTERVAL_SECONDS,
                        reads_per_tick: int = READS_PER_TICK) -> dg.SensorDefinition:
    """Records an observation of an account's reviews whenever its newest one changes, for every
    account of the registry. A tick reads the stores of the accounts never observed first, then of
    the others in turn from where the last tick stopped, `reads_per_tick` at most. The cursor holds
    each account's last recorded data version and where the turn resumes."""
    review_key = key(ACCESS_REVIEWS)

    @dg.sensor(
        name=REVIEWS_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={ACCOUNTS_RESOURCE, EVIDENCE_RESOURCE},
        description=f"Observes {review_key.to_user_string()} of the accounts in their evidence stores every "
                    f"{minimum_interval_seconds} s ({reads_per_tick} accounts a tick at most, new accounts first) "
                    f"and records it when a new review was imported.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        seen, turn = _review_cursor(context.cursor)
        registered = set(context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS))
        # An account not yet registered waits: the registry sensor adds it first, and an
        # observation needs its partition.
        accounts = sorted((a for a in context.resources.accounts.settings().accounts if a.key in registered),
                          key=lambda a: a.key)
        new = [a for a in accounts if a.key not in seen]
        known = [a for a in accounts if a.key in seen]
        start = turn % len(known) if known else 0
        in_turn = (known[start:] + known[:start])[:max(0, reads_per_tick - len(new))]
        events = []
        for account in (new + in_turn)[:reads_per_tick]:
            result = observe_reviews(context.resources.evidence, review_key, account)
            version = result.data_version.value
            if seen.get(account.key) == version:
                continue
            seen[account.key] = version
            events.append(dg.AssetObservation(asset_key=review_key, partition=account.key, metadata=result.metadata,
                                              tags={DATA_VERSION_TAG: version}))
        context.update_cursor(json.dumps({"versions": seen, "turn": start + len(in_turn)}, sort_keys=True))
        if not events:
            return dg.SkipReason("no new access review")
        return dg.SensorResult(asset_events=events)

    return _sensor


def _review_cursor(cursor: str | None) -> tuple[dict[str, str], int]:
    """(data version by account, where the turn resumes) from the sensor's cursor; the cursor of
    earlier releases is the versions alone, and an unreadable one starts afresh."""
    try:
        value = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}, 0
    if not isinstance(value, dict):
        return {}, 0
    versions, turn = value.get("versions"), value.get("turn")
    if not isinstance(versions, dict):  # an earlier release's cursor (an account may be named "versions")
        return {str(k): str(v) for k, v in value.items()}, 0
    return {str(k): str(v) for k, v in versions.items()}, turn if isinstance(turn, int) and turn >= 0 else 0
