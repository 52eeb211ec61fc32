"""The outcome of a check and its findings table: the shapes every rule returns.

`findings` is the table an auditor reads: one row per evaluated or offending item, with why. Its first
six columns are the same for every check (check_id, status, item_type, item_id, item_label, reason);
`item_id` is always a string so that the findings of every check can be concatenated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import BY_ID, ERROR, FAIL, PASS, SKIP, STATUSES, WARN, CheckSpec
from aircall_pipeline.compliance.rules.columns import _cast

BASE_COLUMNS = ("check_id", "status", "item_type", "item_id", "item_label", "reason")
_STATUS_RANK = {FAIL: 0, WARN: 1, SKIP: 2, PASS: 3}


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check, as in docs/architecture.md."""

    check_id: str
    name: str
    status: str
    observed: object
    threshold: str
    controls: tuple[str, ...]
    reason: str
    # A DataFrame has no usable ==, so it takes no part in comparing outcomes.
    findings: pd.DataFrame = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"{self.check_id}: status {self.status!r} is not one of {STATUSES}")

    def summary(self) -> dict[str, Any]:
        """The JSON-serialisable part (checks.json / manifest `checks` entries)."""
        return {
            "id": self.check_id,
            "name": self.name,
            "status": self.status,
            "observed": self.observed,
            "threshold": self.threshold,
            "controls": list(self.controls),
            "reason": self.reason,
            "findings": len(self.findings),
        }


def _outcome(
    spec: CheckSpec, status: str, observed: object, threshold: str, reason: str, findings: pd.DataFrame
) -> CheckOutcome:
    return CheckOutcome(spec.check_id, spec.name, status, observed, threshold, spec.controls, reason, findings)


def _findings(spec: CheckSpec, rows: pd.DataFrame | None, specifics: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Typed findings table: the six base columns, then the check's own columns, in a stable order."""
    columns = {**dict.fromkeys(BASE_COLUMNS, "str"), **(specifics or {})}
    if rows is None or rows.empty:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
    rows = rows.reset_index(drop=True)
    data = {}
    for name, dtype in columns.items():
        if name == "check_id":
            values = pd.Series(spec.check_id, index=rows.index)
        elif name in rows.columns:
            values = rows[name]
        else:
            values = pd.Series(pd.NA, index=rows.index, dtype=object)
        data[name] = _cast(values, dtype)
    out = pd.DataFrame(data)
    # Worst first, then the order the rule produced: stable and deterministic across reruns.
    order = out["status"].map(_STATUS_RANK).fillna(9).to_numpy()
    return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame()


def _rows(n: int | pd.Index, **columns: Any) -> pd.DataFrame:
    """A block of finding rows; scalars are broadcast."""
    index = pd.RangeIndex(n) if isinstance(n, int) else n
    data = {}
    for key, value in columns.items():
        if isinstance(value, pd.Series):
            data[key] = value.set_axis(index) if len(value) == len(index) else value
        elif isinstance(value, (np.ndarray, list)):
            data[key] = pd.Series(value, index=index)
        else:
            data[key] = pd.Series([value] * len(index), index=index, dtype=object)
    return pd.DataFrame(data, index=index)


def _concat(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        return _empty_rows()
    return pd.concat([p.reset_index(drop=True).astype(object) for p in parts], ignore_index=True)


def _worst(statuses: Iterable[str]) -> str:
    statuses = set(statuses)
    for status in (FAIL, WARN):
        if status in statuses:
            return status
    return PASS


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _skip(spec: CheckSpec, threshold: str, reason: str, rows: pd.DataFrame | None = None,
          specifics: Mapping[str, str] | None = None) -> CheckOutcome:
    return _outcome(spec, SKIP, None, threshold, reason, _findings(spec, rows, specifics))


def error_outcome(check: str | CheckSpec, exc: BaseException) -> CheckOutcome:
    """The outcome to record when a rule could not run (bad input, a bug): visible, never a pass."""
    spec = check if isinstance(check, CheckSpec) else BY_ID[check]
    reason = f"The check could not be evaluated: {type(exc).__name__}: {exc}"
    return _outcome(spec, ERROR, None, "n/a", reason, _findings(spec, None))
