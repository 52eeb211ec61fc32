"""AC-06 dormant accounts: users without a call in the policy's window, and the per-user call
activity it is judged on (built from call partitions streamed one day at a time)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_06, FAIL, PASS, SKIP
from aircall_pipeline.compliance.rules.columns import (
    _DAY,
    UTC_DTYPE,
    _id_str,
    _ids,
    _iso,
    _label,
    _require,
    _users_view,
    _utc_series,
    to_utc,
)
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _findings,
    _outcome,
    _plural,
    _rows,
    _skip,
)


def activity_from_calls(
    frames: Iterable[pd.DataFrame], *, initial: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per-user call activity (user_id, last_call_at, calls), aggregated one frame at a time.

    Only `user_id` and `started_at` are read, so callers can stream daily partitions read with
    `columns=["user_id", "started_at"]`; memory stays at one partition plus one row per user.
    `initial` is a previous result to extend (incremental runs).
    """
    acc = _empty_activity() if initial is None else _activity_view(initial)
    for frame in frames:
        if frame is None or len(frame) == 0:
            continue
        _require(frame, "calls", ["user_id", "started_at"])
        part = pd.DataFrame({"user_id": _ids(frame["user_id"]), "started_at": _utc_series(frame["started_at"])})
        part = part[part["user_id"].notna()]
        if part.empty:
            continue
        grouped = part.groupby("user_id", sort=False)["started_at"].agg(["max", "size"])
        grouped = grouped.rename(columns={"max": "last_call_at", "size": "calls"}).reset_index()
        acc = pd.concat([acc, grouped], ignore_index=True) if len(acc) else grouped
        acc = acc.groupby("user_id", sort=False).agg(last_call_at=("last_call_at", "max"), calls=("calls", "sum"))
        acc = acc.reset_index()
    return _activity_view(acc)


def _empty_activity() -> pd.DataFrame:
    return pd.DataFrame({"user_id": pd.Series(dtype="Int64"), "last_call_at": pd.Series(dtype=UTC_DTYPE),
                         "calls": pd.Series(dtype="int64")})


def _activity_view(activity: pd.DataFrame) -> pd.DataFrame:
    _require(activity, "activity", ["user_id", "last_call_at"])
    calls = activity["calls"] if "calls" in activity.columns else pd.Series(0, index=activity.index)
    out = pd.DataFrame({"user_id": _ids(activity["user_id"]), "last_call_at": _utc_series(activity["last_call_at"]),
                        "calls": calls.fillna(0).astype("int64")})
    out = out.dropna(subset=["user_id"])
    return out.sort_values("user_id", kind="stable").reset_index(drop=True)


def dormant_accounts(
    users: pd.DataFrame,
    activity: pd.DataFrame | None,
    *,
    as_of: Any,
    covered_from: Any | None,
    covered_to: Any | None,
    days: int = 90,
) -> CheckOutcome:
    """Users without a call in the `days` before `as_of`, from stored call partitions.

    `covered_from`/`covered_to` are the bounds of the call history actually read (e.g. the start of the
    oldest stored daily partition and the end of the newest); `as_of` should be the end of the evidence
    day. The rule needs covered_from <= as_of - days and covered_to >= as_of; otherwise it skips, states
    the window covered and lists the candidates so far. Users created less than `days` ago are not
    dormant. Calls are a proxy: the API has no last-login field.
    """
    spec = AC_06
    as_of = to_utc(as_of)
    window_start = as_of - pd.Timedelta(days=days)
    threshold = f"every user created before {_iso(window_start)} has a call in the {days} days to {_iso(as_of)}"
    specifics = {"email": "str", "name": "str", "created_at": UTC_DTYPE, "last_call_at": UTC_DTYPE,
                 "calls": "Int64", "days_since_last_call": "float64", "window_start": UTC_DTYPE}
    if activity is None or covered_from is None or covered_to is None:
        return _skip(spec, threshold, "No stored call history, so inactivity cannot be measured.", specifics=specifics)
    covered_from, covered_to = to_utc(covered_from), to_utc(covered_to)
    covered_days = max((covered_to - covered_from) / _DAY, 0.0)
    covered_words = f"calls covered {_iso(covered_from)} to {_iso(covered_to)} ({covered_days:.1f} days)"
    act = _activity_view(activity)
    view = _users_view(users).drop_duplicates("user_id")
    merged = view.merge(act, on="user_id", how="left")
    since = (as_of - merged["last_call_at"]) / _DAY
    sufficient = covered_from <= window_start and covered_to >= as_of
    if not sufficient:
        # Candidates so far: no call in what is covered, created before the covered window began.
        start = max(covered_from, window_start)
        old = merged["created_at"].isna() | (merged["created_at"] <= start)
        cand = merged[old & (merged["last_call_at"].isna() | (merged["last_call_at"] < start))]
        rows = _rows(cand.index, status=SKIP, item_type="user", item_id=_id_str(cand["user_id"]),
                     item_label=_label(cand), email=cand["email"], name=cand["name"], created_at=cand["created_at"],
                     last_call_at=cand["last_call_at"], calls=cand["calls"], days_since_last_call=since[cand.index],
                     window_start=window_start,
                     reason=f"No call in the history covered so far; {days} days are needed to conclude.")
        gap = "does not reach back" if covered_from > window_start else "does not reach"
        reason = (f"Not enough call history: {covered_words}, which {gap} "
                  f"{_iso(window_start if covered_from > window_start else as_of)}; "
                  f"{_plural(len(cand), 'candidate')} listed.")
        return _skip(spec, threshold, reason, rows, specifics)
    eligible = merged["created_at"].isna() | (merged["created_at"] <= window_start)
    active = merged["last_call_at"].notna() & (merged["last_call_at"] >= window_start)
    dormant = eligible & ~active
    age_days = ((as_of - merged["created_at"]) / _DAY).round(1).astype("str")
    reason = np.where(
        dormant,
        np.where(merged["last_call_at"].isna(), f"No call since at least {_iso(covered_from)}.",
                 "Last call " + since.round(1).astype("str") + f" days ago, more than {days}."),
        np.where(active, "Last call " + since.round(1).astype("str") + " days ago.",
                 "Created " + age_days + f" days ago: not yet subject to the {days}-day rule."))
    rows = _rows(merged.index, status=np.where(dormant, FAIL, PASS), item_type="user",
                 item_id=_id_str(merged["user_id"]), item_label=_label(merged), reason=reason,
                 email=merged["email"], name=merged["name"], created_at=merged["created_at"],
                 last_call_at=merged["last_call_at"], calls=merged["calls"], days_since_last_call=since,
                 window_start=window_start)
    n = int(dormant.sum())
    reason = (f"{_plural(n, 'user')} without a call in {days} days, {int(active.sum())} active, "
              f"{int((~eligible).sum())} created too recently to judge; {covered_words}.")
    return _outcome(spec, FAIL if n else PASS, n, threshold, reason, _findings(spec, rows, specifics))
