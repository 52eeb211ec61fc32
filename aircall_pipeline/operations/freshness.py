"""How old the newest evidence may be: one policy, applied in one place (the root definitions.py).

The daily run targets yesterday at 02:15 (the default `schedule_cron`, which scheduler.py fires); a
day plus slack for a late or retried run gives the 30 h limit. The same windows drive two things:

- `EVIDENCE_FRESHNESS_POLICY`, a `dg.FreshnessPolicy` the UI and the FreshnessDaemon evaluate
  (health badges on the asset graph). OSS Dagster sends no alert for it, hence
- the freshness sensor (freshness_sensor.py), which alerts once per staleness episode.

What "stale" means is decided in one place, `compliance.rules.freshness` (AC-15), against
the policy's `freshness_max_age_hours` (30 h by default, `policy_max_age()` below): the sensor asks it
through `is_stale()`, and the AC-15 asset of every daily run through `evidence_freshness_check()`,
both about the newest evidence report this instance recorded (`compliance.newest_evidence`). The
`dg.FreshnessPolicy` of the UI badges keeps the default window (the definitions do not read the
policy file when they load).

Wiring, in aircall_pipeline/definitions.py::

    from aircall_pipeline.operations.freshness import apply_freshness
    defs = apply_freshness(dg.Definitions.merge(...))            # the report asset only, or
    defs = apply_freshness(defs, selection=dg.AssetSelection.groups("aircall_compliance"))
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import timedelta

import dagster as dg

from aircall_pipeline.compliance.newest_evidence import EVIDENCE_KEY
from aircall_pipeline.config.policy import CompliancePolicy, PolicyError

EVIDENCE_FAIL_WINDOW = timedelta(hours=30)
EVIDENCE_WARN_WINDOW = timedelta(hours=26)

EVIDENCE_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=EVIDENCE_FAIL_WINDOW, warn_window=EVIDENCE_WARN_WINDOW
)


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
