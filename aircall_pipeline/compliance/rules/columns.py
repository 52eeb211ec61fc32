"""Reading input tables: required columns, ids, emails, names and UTC timestamps, the users view.

Every rule goes through these so that the same input is read the same way by every check: ids as
nullable Int64 (exact above 2**53), emails lower-cased and trimmed, timestamps tz-aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.timestamps import iso_utc

UTC_DTYPE = "datetime64[us, UTC]"
_HOUR = pd.Timedelta(hours=1)
_DAY = pd.Timedelta(days=1)


class RuleInputError(ValueError):
    """An input table does not have the shape the rules expect (a bug upstream, not a finding)."""


def _cast(values: pd.Series, dtype: str) -> pd.Series:
    if dtype == UTC_DTYPE:
        return _utc_series(values)
    if dtype == "str":
        return values.astype("str")
    if dtype == "float64":
        # float() refuses pd.NA, so missing values go through NaN first.
        return values.astype(object).where(values.notna(), np.nan).astype("float64")
    return values.astype(dtype)


def _require(frame: pd.DataFrame, table: str, columns: Iterable[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise RuleInputError(f"the {table} table must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RuleInputError(
            f"the {table} table lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}"
        )


def _col(frame: pd.DataFrame, name: str, dtype: str = "str") -> pd.Series:
    """A column, or an all-missing one of the right type when the table does not carry it."""
    if name in frame.columns:
        return frame[name]
    return pd.Series(pd.NA, index=frame.index, dtype=object).astype(dtype)


def normalize_email(values: pd.Series) -> pd.Series:
    """Lower-cased, trimmed emails; empty strings become missing."""
    s = values.astype("str").str.strip().str.lower()
    return s.mask(s == "")


def _normalize_name(values: pd.Series) -> pd.Series:
    s = values.astype("str").str.strip().str.casefold().str.replace(r"\s+", " ", regex=True)
    return s.mask(s == "")


def _ids(values: pd.Series) -> pd.Series:
    """Ids as nullable Int64 (exact above 2**53: no float round trip)."""
    if isinstance(values.dtype, pd.Int64Dtype):
        return values
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64")
    if pd.api.types.is_float_dtype(values.dtype):
        return values.astype("Int64")
    # Strings or objects: parse element-wise through Python ints, which are exact.
    return pd.array([None if pd.isna(v) or str(v).strip() == "" else int(str(v).strip()) for v in values],
                    dtype="Int64")


def _id_str(values: pd.Series) -> pd.Series:
    return pd.Series(_ids(values), index=values.index).astype("str")


def to_utc(value: Any) -> pd.Timestamp:
    """A timestamp as tz-aware UTC; naive values are taken as UTC."""
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise ValueError(f"{value!r} is not a timestamp")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _utc_series(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        out = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        out = values.dt.tz_localize("UTC")
    else:
        out = pd.to_datetime(values, utc=True, format="ISO8601")
    return out.astype(UTC_DTYPE)


def _iso(ts: Any) -> str:
    if ts is None or pd.isna(ts):
        return "unknown"
    return iso_utc(to_utc(ts))


def _company_field(company: pd.DataFrame | Mapping[str, Any] | None, name: str) -> int | None:
    if company is None:
        return None
    if isinstance(company, pd.DataFrame):
        if company.empty or name not in company.columns:
            return None
        value = company[name].iloc[0]
    else:
        value = company.get(name)
    if value is None or pd.isna(value):
        return None
    return int(value)


def _exceptions_frame(exceptions: Mapping[str, Any] | Iterable[str] | None) -> pd.DataFrame:
    """Documented exceptions as (email, owner, reason); accepts email -> {owner, reason}, email -> reason,
    or a plain iterable of emails (no owner)."""
    rows = []
    if exceptions is None:
        exceptions = ()
    if isinstance(exceptions, Mapping):
        for email, entry in exceptions.items():
            if isinstance(entry, Mapping):
                rows.append((email, entry.get("owner"), entry.get("reason")))
            elif hasattr(entry, "owner"):
                rows.append((email, getattr(entry, "owner", None), getattr(entry, "reason", None)))
            else:
                rows.append((email, None, entry))
    else:
        rows = [(email, None, None) for email in exceptions]
    frame = pd.DataFrame(rows, columns=["email", "owner", "reason"], dtype=object).astype("str")
    frame["email"] = normalize_email(frame["email"])
    for col in ("owner", "reason"):
        frame[col] = frame[col].str.strip().mask(frame[col].str.strip() == "")
    return frame.dropna(subset=["email"]).drop_duplicates("email", keep="last").reset_index(drop=True)


def _users_view(users: pd.DataFrame) -> pd.DataFrame:
    """user_id (Int64), email (normalised), name, created_at (UTC) — the columns every rule needs."""
    _require(users, "users", ["user_id", "email"])
    return pd.DataFrame({
        "user_id": _ids(users["user_id"]),
        "email": normalize_email(users["email"]),
        "name": _col(users, "name").astype("str"),
        "created_at": _utc_series(_col(users, "created_at", UTC_DTYPE)),
    }, index=users.index).reset_index(drop=True)


def _label(view: pd.DataFrame) -> pd.Series:
    """The human label of a user: the email, else the name, else a placeholder."""
    return view["email"].fillna(view["name"]).fillna("(no email, no name)")
