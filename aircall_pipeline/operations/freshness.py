"""How old the newest evidence may be: one policy, applied in one place (the root definitions.py).

The daily run targets yesterday at 02:15 (schedules.py); a day plus slack for a late or retried
run gives the 30 h limit. The same windows drive two things:

- `EVIDENCE_FRESHNESS_POLICY`, a `dg.FreshnessPolicy` the UI and the FreshnessDaemon evaluate
  (health badges on the asset graph). OSS Dagster sends no alert for it, hence
- the freshness sensor (sensors.py), which alerts once per staleness episode.

Wiring, in aircall_pipeline/definitions.py::

    from aircall_pipeline.operations.freshness import apply_freshness
    defs = apply_freshness(dg.Definitions.merge(...))            # the report asset only, or
    defs = apply_freshness(defs, selection=dg.AssetSelection.groups("aircall_compliance"))
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

# The asset whose latest materialization *is* "the newest evidence": the day's report, written
# last, only when every other file of the day is in place.
EVIDENCE_KEY = dg.AssetKey(["aircall", "evidence_report"])

EVIDENCE_FAIL_WINDOW = timedelta(hours=30)
EVIDENCE_WARN_WINDOW = timedelta(hours=26)

EVIDENCE_FRESHNESS_POLICY = dg.FreshnessPolicy.time_window(
    fail_window=EVIDENCE_FAIL_WINDOW, warn_window=EVIDENCE_WARN_WINDOW
)


def apply_freshness(
    defs: dg.Definitions,
    *,
    selection: dg.AssetSelection | None = None,
    policy: dg.FreshnessPolicy = EVIDENCE_FRESHNESS_POLICY,
) -> dg.Definitions:
    """`defs` with `policy` on the selected assets (default: the evidence report only).

    Applied with overwrite_existing=False: an asset that declares its own policy keeps it.
    """
    target = selection if selection is not None else dg.AssetSelection.assets(EVIDENCE_KEY)
    # map_resolved_asset_specs is marked "preview" in 1.13 (DOP applies its global policy the same
    # way); the warning is expected here and nowhere else.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_resolved_asset_specs(
            func=lambda spec: dg.apply_freshness_policy(spec, policy, overwrite_existing=False),
            selection=target,
        )
