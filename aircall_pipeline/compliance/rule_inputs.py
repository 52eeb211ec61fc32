"""What a rule is given, built in one place for the pipeline and for re-performance.

`RuleInputs` holds the day's tables (the raw tables and the sealed owner tables, as read from their
stored files), the instant the check judged at, the day's window, and a `History` that reads
earlier evidence. The policy, roles and roster are decoded from the sealed owner tables here
(owner_inputs.py), never read from the owner's live files, so the pipeline's checks and an auditor's
re-performance (reperform.py) see exactly the same inputs.

Every check record also carries what re-performance needs beyond the day's tables
(`reperformance_fields`): `evaluated_at`, the day's `window`, and `history`, the exact earlier files
it read. `StoreHistory` reads the live store and records them; re-performance replays them.

Plain Python and pandas, no Dagster.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

import pandas as pd

from aircall_pipeline.compliance.owner_inputs import sealed_policy, sealed_roles, sealed_roster
from aircall_pipeline.config.policy import CompliancePolicy
from aircall_pipeline.evidence.day_tables import OWNER_POLICY, OWNER_ROLES, OWNER_ROSTER
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.evidence.store import READ_FROM, EvidenceStore

# Keys of a check record (checks.json) that re-performance reads.
EVALUATED_AT, WINDOW, HISTORY, JUDGED = "evaluated_at", "window", "history", "judged"


class History(Protocol):
    """Earlier evidence a rule may read: other days' tables (AC-06, AC-07) and reviews (AC-16)."""

    def dates(self, table: str) -> list[str]: ...

    def read_table(self, table: str, date: str, columns: list[str] | None = None) -> pd.DataFrame: ...

    def latest_review(self, on_or_before: str) -> dict[str, Any] | None: ...


@dataclass
class StoreHistory:
    """The store as it is now, recording every file read in `record` (the check's `history`)."""

    store: EvidenceStore
    # The evidence key's public half: AC-16 counts only reviews this key signed.
    trusted: TrustedKey | None = None
    record: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"tables": [], "reviews": []})

    def dates(self, table: str) -> list[str]:
        return self.store.dates(table)

    def read_table(self, table: str, date: str, columns: list[str] | None = None) -> pd.DataFrame:
        frame = self.store.read_table(table, date, columns=columns)
        self.record["tables"].append({"table": table, "date": date, **frame.attrs.get(READ_FROM, {})})
        return frame

    def latest_review(self, on_or_before: str) -> dict[str, Any] | None:
        review = self.store.latest_review(on_or_before, self.trusted)
        if review is not None:
            raw = self.store.backend.get(review["path"])
            self.record["reviews"].append({"date": review["date"], "path": review["path"],
                                           "sha256": hashlib.sha256(raw).hexdigest(),
                                           "signature": review.get("signature")})
        return review


@dataclass
class RuleInputs:
    """What a rule may need: the day's tables (owner tables included), history, and the clock."""

    date: str
    day_start: datetime
    day_end: datetime
    tz: str  # the partitions' timezone: evidence days start at midnight there
    now: datetime  # the instant the check judged at (AC-03's SLA clock, AC-15's age)
    tables: dict[str, pd.DataFrame]
    history: History
    # AC-15 only: the unix time of the newest evidence report the Dagster instance recorded.
    newest_report: Callable[[], float | None] | None = None

    @cached_property
    def policy(self) -> CompliancePolicy:
        """The sealed policy; raises the recorded PolicyError when it was unusable."""
        return sealed_policy(self.tables[OWNER_POLICY])

    def roles(self) -> pd.DataFrame | None:
        return sealed_roles(self.tables[OWNER_POLICY], self.tables[OWNER_ROLES])

    def roster(self) -> pd.DataFrame | None:
        return sealed_roster(self.tables[OWNER_POLICY], self.tables[OWNER_ROSTER])


def reperformance_fields(inputs: RuleInputs, history: dict[str, Any]) -> dict[str, Any]:
    """The check record's fields that let an auditor re-perform it: the instant, window and history."""
    return {
        EVALUATED_AT: inputs.now.isoformat(),  # microseconds kept: AC-03's hours past the SLA depend on it
        WINDOW: {"start": inputs.day_start.isoformat(), "end": inputs.day_end.isoformat(), "tz": inputs.tz},
        HISTORY: history,
    }
