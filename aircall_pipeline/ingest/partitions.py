"""The daily partitions every asset shares: one evidence date = one partition.

Partition keys are calendar days in AIRCALL_TIMEZONE from AIRCALL_PARTITIONS_START. Those are
settings, and no module reads settings at import (one invalid value would stop the code location
from loading, and the alert sensors with it). So the assets are declared with `daily_partitions`,
built from the defaults, and the root definitions put `partitions_for(settings)` in its place on
every asset when they load (`apply_partitions`).
"""

from __future__ import annotations

import warnings

import dagster as dg

from aircall_pipeline.settings import DEFAULT_PARTITIONS_START, DEFAULT_TIMEZONE, Settings


def partitions_for(settings: Settings) -> dg.DailyPartitionsDefinition:
    # With end_offset=0 the newest partition is the last *completed* day, which is what the daily
    # schedule targets.
    return dg.DailyPartitionsDefinition(start_date=settings.partitions_start, timezone=settings.timezone)


# The declaration-time stand-in (UTC, default start); never the one a loaded code location uses.
daily_partitions = dg.DailyPartitionsDefinition(start_date=DEFAULT_PARTITIONS_START, timezone=DEFAULT_TIMEZONE)


def apply_partitions(defs: dg.Definitions, partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    """`defs` with `partitions_def` on every asset declared with `daily_partitions`."""

    def swap(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.partitions_def != daily_partitions:
            return spec
        return spec.replace_attributes(partitions_def=partitions_def)

    # map_resolved_asset_specs is "preview" in 1.13, as in operations/freshness.py.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_resolved_asset_specs(func=swap)
