"""The HR/IdP roster as the rules read it (AC-03 offboarding, AC-04 unmatched accounts): emails,
names, terminations, and each status sorted into terminated | active | suspended | unknown."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from aircall_pipeline.compliance.catalogue import (
    ACTIVE_STATUSES,
    SUSPENDED_STATUSES,
    TERMINATED_STATUSES,
    CheckSpec,
    status_key,
)
from aircall_pipeline.compliance.rules.columns import UTC_DTYPE, _col, _require, _utc_series, normalize_email
from aircall_pipeline.compliance.rules.findings import CheckOutcome, _skip


def _roster_view(roster: pd.DataFrame) -> pd.DataFrame:
    _require(roster, "roster", ["email"])
    return pd.DataFrame({
        "email": normalize_email(roster["email"]),
        "roster_name": _col(roster, "name").astype("str"),
        "roster_status": _col(roster, "status").astype("str").str.strip().str.lower(),
        "terminated_at": _utc_series(_col(roster, "terminated_at", UTC_DTYPE)),
    }).dropna(subset=["email"]).reset_index(drop=True)


def roster_or_skip(
    roster: pd.DataFrame | None, spec: CheckSpec, threshold: str, specifics: dict[str, str], *, cannot: str
) -> pd.DataFrame | CheckOutcome:
    """The roster as the rules read it, or the rule's skip saying why it cannot run ("so {cannot}")."""
    if roster is None:
        return _skip(spec, threshold, f"No roster is configured (roster_uri), so {cannot}.", specifics=specifics)
    view = _roster_view(roster)
    if view.empty:
        return _skip(spec, threshold, f"The roster has no rows with an email, so {cannot}.", specifics=specifics)
    return view


STATUS_TERMINATED, STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_UNKNOWN = "terminated", "active", "suspended", "unknown"


def roster_status_kinds(
    statuses: pd.Series,
    *,
    active: Iterable[str] = (),
    terminated: Iterable[str] = (),
    suspended: Iterable[str] = (),
) -> pd.Series:
    """Each roster status as terminated | active | suspended | unknown: the longest known phrase
    the status starts with, word for word (catalogue.py), the policy's own phrases included."""
    phrases: dict[tuple[str, ...], str] = {}
    for kind, builtin, extra in ((STATUS_ACTIVE, ACTIVE_STATUSES, active),
                                 (STATUS_SUSPENDED, SUSPENDED_STATUSES, suspended),
                                 (STATUS_TERMINATED, TERMINATED_STATUSES, terminated)):
        for phrase in (*builtin, *extra):
            phrases[tuple(status_key(phrase).split())] = kind

    def kind_of(status: Any) -> str:
        if status is None or pd.isna(status):
            return STATUS_UNKNOWN
        words = tuple(status_key(status).split())
        for n in range(len(words), 0, -1):
            if words[:n] in phrases:
                return phrases[words[:n]]
        return STATUS_UNKNOWN

    kinds = {value: kind_of(value) for value in statuses.dropna().unique()}
    return statuses.map(kinds).fillna(STATUS_UNKNOWN).astype("str")
