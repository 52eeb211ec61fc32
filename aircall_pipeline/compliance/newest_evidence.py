"""The newest evidence report this Dagster instance recorded: what AC-15 and the freshness alert judge.

Asked of the instance's event log (the report asset's latest materialization), so it lives with the
assets that need it (the AC-15 asset, compliance/assets.py) and the freshness sensor imports it from
here (operations/freshness_sensor.py); what "too old" means is the rule's (rules/freshness.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from aircall_pipeline.ingest.partitions import partition_key
from aircall_pipeline.names import report_key

# The asset whose latest materialization *is* "the newest evidence": the day's report, written
# last, only when every other file of the day is in place (one partition per account and day).
EVIDENCE_KEY = report_key()
# How far back an account's newest report is looked for (its partitions of these last days): far
# beyond any freshness policy, so an account with nothing in that window is stale whatever it has.
NEWEST_LOOKBACK_DAYS = 40


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
        today = today or datetime.now(UTC).date()
        partitions = [partition_key(account, (today - timedelta(days=n)).isoformat())
                      for n in range(-1, NEWEST_LOOKBACK_DAYS)]
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions), limit=1).records
    if not records:
        return None
    record = records[0]
    return NewestEvidence(record.timestamp, record.storage_id, record.partition_key, record.run_id or None)
