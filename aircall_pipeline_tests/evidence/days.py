"""A complete day of evidence for the store and verifier tests: every table the day's manifest must
list (`names.EVIDENCE_TABLES`) and every check of the catalogue, so that `verify` judges a day the
way it judges one sealed by the pipeline. Tests give the tables and checks they care about; the rest
are filled in (one-row placeholder tables, passing checks)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from aircall_pipeline.compliance.catalogue import CHECKS as CATALOGUE
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import EVIDENCE_TABLES


def complete_checks(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The given checks as they are, then every other check of the catalogue as a `pass`."""
    given = {c["id"] for c in checks}
    return list(checks) + [
        {"id": spec.check_id, "name": spec.name, "status": "pass", "observed": 0, "threshold": "",
         "controls": list(spec.controls), "reason": "placeholder", "items": []}
        for spec in CATALOGUE if spec.check_id not in given
    ]


def placeholder(table: str) -> pd.DataFrame:
    if table == "calls":  # what readers of call history select
        return pd.DataFrame({"user_id": pd.array([], dtype="Int64"),
                             "started_at": pd.to_datetime(pd.Series([], dtype="object"), utc=True)})
    return pd.DataFrame({"placeholder": pd.array([1], dtype="int64"), "table": [table]})


def seal_day(store: EvidenceStore, day: str, *, tables: dict[str, pd.DataFrame], checks: list[dict[str, Any]],
             fields: dict[str, Any], signer=None, **options: Any):
    """Write `tables`, a placeholder for every other table of the day, then seal the day."""
    for table in EVIDENCE_TABLES:
        store.write_table(table, day, tables[table] if table in tables else placeholder(table))
    return store.write_report(day, checks=complete_checks(checks), manifest_fields=fields,
                              tables=list(EVIDENCE_TABLES), signer=signer, **options)
