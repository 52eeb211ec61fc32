"""AC-09 number inventory: numbers reconciled with the company count, each assigned to someone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_09, FAIL, PASS, WARN
from aircall_pipeline.compliance.rules.columns import _col, _company_field, _id_str, _ids, _require
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _concat,
    _findings,
    _outcome,
    _plural,
    _rows,
    _skip,
    _worst,
)


def number_inventory(
    numbers: pd.DataFrame, number_users: pd.DataFrame | None, company: pd.DataFrame | Mapping[str, Any] | None
) -> CheckOutcome:
    """Numbers fetched == company.numbers_count (fail otherwise); numbers with no users (warn)."""
    spec = AC_09
    expected = _company_field(company, "numbers_count")
    threshold = (f"distinct numbers fetched == company.numbers_count "
                 f"({expected if expected is not None else 'unknown'}); every number has at least one user")
    specifics = {"name": "str", "country": "str", "live_recording_activated": "boolean", "user_count": "Int64",
                 "fetched": "Int64", "expected": "Int64"}
    if number_users is None:
        return _skip(spec, threshold, "Number assignments (number_users) were not collected.", specifics=specifics)
    _require(numbers, "numbers", ["number_id"])
    _require(number_users, "number_users", ["number_id", "user_id"])
    n = pd.DataFrame({"number_id": _ids(numbers["number_id"]), "name": _col(numbers, "name").astype("str"),
                      "country": _col(numbers, "country").astype("str"),
                      "live_recording_activated": _col(numbers, "live_recording_activated", "boolean"),
                      "vanished": _col(numbers, "vanished", "boolean").fillna(False)})
    fetched = int(n["number_id"].dropna().nunique())
    assign = pd.DataFrame({"number_id": _ids(number_users["number_id"]), "user_id": _ids(number_users["user_id"])})
    counts = assign.dropna().drop_duplicates().groupby("number_id")["user_id"].size()
    parts = []
    if expected is None:
        parts.append(_rows(1, status=FAIL, item_type="company", item_id="numbers_count", item_label="company",
                           fetched=fetched, reason="The company record has no numbers_count to reconcile against."))
    elif expected != fetched:
        parts.append(_rows(1, status=FAIL, item_type="company", item_id="numbers_count", item_label="company",
                           fetched=fetched, expected=expected,
                           reason=f"{fetched} distinct numbers fetched but the company reports {expected}."))
    dup = n[n["number_id"].notna() & n["number_id"].duplicated(keep="first")]
    if len(dup):
        parts.append(_rows(dup.index, status=FAIL, item_type="number", item_id=_id_str(dup["number_id"]),
                           item_label=dup["name"].fillna("(unnamed number)"), name=dup["name"],
                           reason="Number listed more than once: pages overlapped or shifted during collection."))
    uniq = n.dropna(subset=["number_id"]).drop_duplicates("number_id").sort_values("number_id", kind="stable")
    uniq = uniq.reset_index(drop=True)
    uniq["user_count"] = uniq["number_id"].map(counts).fillna(0).astype("Int64")
    # A number deleted between the list and its detail has unknown users, not none.
    gone = uniq[uniq["vanished"].astype(bool)]
    parts.append(_rows(gone.index, status=WARN, item_type="number", item_id=_id_str(gone["number_id"]),
                       item_label=gone["name"].fillna("(unnamed number)"), name=gone["name"],
                       country=gone["country"], live_recording_activated=gone["live_recording_activated"],
                       reason="Number vanished while the snapshot was taken (listed, then 404 on its detail): "
                              "it was deleted during collection; its users are unknown."))
    lonely = uniq[(uniq["user_count"] == 0) & ~uniq["vanished"].astype(bool)]
    parts.append(_rows(lonely.index, status=WARN, item_type="number", item_id=_id_str(lonely["number_id"]),
                       item_label=lonely["name"].fillna("(unnamed number)"), name=lonely["name"],
                       country=lonely["country"], live_recording_activated=lonely["live_recording_activated"],
                       user_count=lonely["user_count"], reason="Number has no assigned user."))
    rows = _concat(parts)
    status = _worst(rows["status"]) if len(rows) else PASS
    reason = (f"{fetched} distinct numbers fetched, company reports {expected if expected is not None else 'no count'}; "
              f"{_plural(len(lonely), 'number')} without users.")
    return _outcome(spec, status, fetched, threshold, reason, _findings(spec, rows, specifics))
