"""How old the newest evidence may be: one policy, applied in one place (the root definitions.py).

The daily run targets yesterday at 02:15 (the default `schedule_cron`, which scheduler.py fires); a
day plus slack for a late or retried run gives the 30 h limit. The same windows drive two things:

- `EVIDENCE_FRESHNESS_POLICY`, a `dg.FreshnessPolicy` the UI and the FreshnessDaemon evaluate
  (health badges on the asset graph). OSS Dagster sends no alert for it, hence
- the freshness sensor (sensors.py), which alerts once per staleness episode.

What "stale" means is decided in one place, `compliance.rules.evidence_freshness` (AC-15), against
the policy's `freshness_max_age_hours` (30 h by default): the sensor asks it through `is_stale()`,
and the AC-15 asset of every daily run through `evidence_freshness_check()`, both about the newest
evidence report this instance recorded (`newest_evidence()`). The `dg.FreshnessPolicy` of the UI
badges keeps the default window (the definitions do not read the policy file when they load).

Wiring, in aircall_pipeline/definitions.py::

    from aircall_pipeline.operations.freshness import apply_freshness
    defs = apply_freshness(dg.Definitions.merge(...))            # the report asset only, or
    defs = apply_freshness(defs, selection=dg.AssetSelection.groups("aircall_compliance"))
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.compliance.policy import CompliancePolicy, PolicyError
from aircall_pipeline.compliance.rules import evidence_freshness_check
from aircall_pipeline.names import report_key

# The asset whose latest materialization *is* "the newest evidence": the day's report, written
# last, only when every other file of the day is in place (one partition per account and day).
EVIDENCE_KEY = report_key()
# How far back an account's newest report is looked for (its partitions of these last days): far
# beyond any freshness policy, so an account with nothing in that window is stale whatever it has.
NEWEST_LOOKBACK_DAYS = 40

EVIDENCE_FAIL_WINDOW = timedelta(hours=30)
EVIDENCE_WARN_WINDOW = timedelta(hours=26)

EVIDENCE_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=EVIDENCE_FAIL_WINDOW, warn_window=EVIDENCE_WARN_WINDOW
)


@dataclass(frozen=True)
class NewestEvidence:
    """The latest materialization of the evidence report in this instance."""

    timestamp: float  # unix seconds
    storage_id: int
    partition: str | None
    run_id: str | None


def newest_evidence(instance: dg.DagsterInstance, asset_key: dg.AssetKey = EVIDENCE_KEY, *,
                    account: str | None = None, today: date | None = None) -> NewestEvidence | None:
    """The latest materialization of `asset_key`; with `account` (Account.key), of that account's
    partitions of the last NEWEST_LOOKBACK_DAYS days only."""
    if account is None:
        records = instance.fetch_materializations(asset_key, limit=1).records
    else:
        from aircall_pipeline.ingest.partitions import partition_key

        today = today or datetime.now(UTC).date()
        partitions = [partition_key(account, (today - timedelta(days=n)).isoformat())
                      for n in range(-1, NEWEST_LOOKBACK_DAYS)]
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions), limit=1).records
    if not records:
        return None
    record = records[0]
    return NewestEvidence(record.timestamp, record.storage_id, record.partition_key, record.run_id or None)


def is_stale(reference: float, now: float, max_age: timedelta) -> bool:
    return evidence_freshness_check(reference, now, max_age).status == catalogue.FAIL


def policy_max_age(policy_file: str | None) -> timedelta:
    """`freshness_max_age_hours` of the account's policy file, read when asked (at each sensor tick).
    An unusable policy falls back to the default: the run-failure alert reports it, and the
    staleness alert must keep working meanwhile."""
    try:
        policy = CompliancePolicy.from_file(policy_file) if policy_file else CompliancePolicy()
    except PolicyError:
        return EVIDENCE_FAIL_WINDOW
    return timedelta(hours=policy.freshness_max_age_hours)


def apply_freshness(
    target: dg.Definitions | Sequence[dg.AssetsDefinition | dg.AssetSpec],
    *,
    selection: dg.AssetSelection | None = None,
    policy: dg.FreshnessPolicy = EVIDENCE_FRESHNESS_POLICY,
):
    """`target` (a Definitions, or a list of assets/specs) with `policy` on the selected assets
    (default: the evidence report only); returns the same kind of object it was given.

    Applied with overwrite_existing=False: an asset that declares its own policy keeps it.
    """

    def with_policy(spec: dg.AssetSpec) -> dg.AssetSpec:
        return dg.apply_freshness_policy(spec, policy, overwrite_existing=False)

    selection = selection if selection is not None else dg.AssetSelection.assets(EVIDENCE_KEY)
    # map_resolved_asset_specs is marked "preview" in 1.13 (DOP applies its global policy the same
    # way); the warning is expected here and nowhere else.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        if isinstance(target, dg.Definitions):
            return target.map_resolved_asset_specs(func=with_policy, selection=selection)
        keys = selection.resolve([t for t in target if isinstance(t, dg.AssetsDefinition)]) | {
            t.key for t in target if isinstance(t, dg.AssetSpec) and t.key in _spec_keys(selection)
        }
        return list(dg.map_asset_specs(lambda spec: with_policy(spec) if spec.key in keys else spec, target))


def _spec_keys(selection: dg.AssetSelection) -> set[dg.AssetKey]:
    """Keys a selection names explicitly (enough for bare AssetSpecs, which have no graph to resolve)."""
    return set(getattr(selection, "selected_keys", None) or [])
