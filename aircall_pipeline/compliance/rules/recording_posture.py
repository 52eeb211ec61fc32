"""AC-10 recording posture: the share of recorded calls per day, team and number, judged against
the recording policy (report, required or forbidden)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_10, FAIL, PASS, WARN
from aircall_pipeline.compliance.rules.columns import _col, _id_str, _ids, _require, _utc_series
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _concat,
    _findings,
    _outcome,
    _plural,
    _rows,
    _skip,
)

RECORDING_POLICIES = ("report", "required", "forbidden")
# Every column of the calls table the rule reads: the daily job loads only these.
RECORDING_POSTURE_CALL_COLUMNS = ("started_at", "answered_at", "has_recording", "team_ids", "number_id")


def recording_posture(
    calls: pd.DataFrame | None,
    *,
    policy: str = "report",
    min_share: float = 1.0,
    numbers: pd.DataFrame | None = None,
    teams: pd.DataFrame | None = None,
    tz: str = "UTC",
) -> CheckOutcome:
    """Share of answered calls with a recording, overall and per day (in `tz`), team and number.

    policy "report": pass with the figures. "required": fail when the overall share is below min_share;
    days/teams/numbers below it are marked warn (a warn overall if only they are). "forbidden": fail if
    any call has a recording. Only the has_recording flag is read: no URL is ever stored.
    """
    spec = AC_10
    if policy not in RECORDING_POLICIES:
        raise ValueError(f"recording policy {policy!r} is not one of {', '.join(RECORDING_POLICIES)}")
    if not 0.0 <= float(min_share) <= 1.0:
        raise ValueError(f"min_share={min_share} must be between 0 and 1")
    threshold = {
        "report": "report only: share of answered calls with a recording (no policy enforced)",
        "required": f"recording required: at least {min_share:.0%} of answered calls have a recording",
        "forbidden": "recording forbidden: no call has a recording",
    }[policy]
    specifics = {"calls": "Int64", "answered_calls": "Int64", "recorded_answered_calls": "Int64",
                 "recorded_calls": "Int64", "recording_share": "float64", "live_recording_activated": "boolean"}
    if calls is None or len(calls) == 0:
        return _skip(spec, threshold, "No calls stored for the period, so recording cannot be measured.",
                     specifics=specifics)
    _require(calls, "calls", ["started_at", "answered_at", "has_recording"])
    answered = calls["answered_at"].notna().to_numpy()
    recorded = calls["has_recording"].fillna(False).astype(bool).to_numpy()
    base = pd.DataFrame({"calls": np.ones(len(calls), dtype=np.int64), "answered_calls": answered.astype(np.int64),
                         "recorded_answered_calls": (answered & recorded).astype(np.int64),
                         "recorded_calls": recorded.astype(np.int64)})
    measures = list(base.columns)
    total = base.sum()
    if policy != "forbidden" and total["answered_calls"] == 0:
        return _skip(spec, threshold, f"{int(total['calls'])} calls but none answered, so the share is undefined.",
                     specifics=specifics)

    # Every grouping key is a Series on base's RangeIndex, so groupby stays vectorised (no object arrays).
    started = _utc_series(calls["started_at"]).reset_index(drop=True)
    day = (started.dt.tz_convert(tz) if tz != "UTC" else started).dt.normalize()
    by_day = base.groupby(day, dropna=False, sort=True)[measures].sum()
    by_day.index = [("unknown" if pd.isna(d) else pd.Timestamp(d).strftime("%Y-%m-%d")) for d in by_day.index]

    # Teams: aggregate per distinct team_ids string first (few), then split those strings and regroup.
    team_ids = _col(calls, "team_ids").astype("str").fillna("").str.strip().reset_index(drop=True)
    by_combo = base.groupby(team_ids, sort=True)[measures].sum()
    combo = by_combo.index.to_series().str.split(";")
    exploded = by_combo.assign(team_id=combo.to_numpy()).explode("team_id")
    exploded["team_id"] = exploded["team_id"].str.strip().replace("", "(none)")
    by_team = exploded.groupby("team_id", sort=False)[measures].sum()
    team_names = {}
    if teams is not None and "team_id" in teams.columns:
        team_names = dict(zip(_id_str(teams["team_id"]), _col(teams, "name").astype("str"), strict=False))

    number_key = _ids(_col(calls, "number_id", "Int64")).fillna(-1).astype("int64").reset_index(drop=True)
    by_number = base.groupby(number_key, sort=True)[measures].sum()
    number_name, number_live = {}, {}
    if numbers is not None and "number_id" in numbers.columns:
        nid = _id_str(numbers["number_id"])
        number_name = dict(zip(nid, _col(numbers, "name").astype("str"), strict=False))
        number_live = dict(zip(nid, _col(numbers, "live_recording_activated", "boolean"), strict=False))

    def block(kind: str, agg: pd.DataFrame, ids: list[str], labels: list[str]) -> pd.DataFrame:
        agg = agg.reset_index(drop=True)
        share = agg["recorded_answered_calls"] / agg["answered_calls"].where(agg["answered_calls"] > 0)
        if policy == "forbidden":
            status = np.where(agg["recorded_calls"] > 0, FAIL, PASS)
        elif policy == "required":
            below = share.notna() & (share < float(min_share))
            status = np.where(below, FAIL if kind == "overall" else WARN, PASS)
        else:
            status = np.full(len(agg), PASS, dtype=object)
        answered_words = (agg["recorded_answered_calls"].astype("str") + " of " + agg["answered_calls"].astype("str")
                          + " answered calls recorded (" + (share * 100).round(1).astype("str") + "%)")
        answered_words = answered_words.where(agg["answered_calls"] > 0, "no answered call")
        reason = (answered_words + "; " + agg["recorded_calls"].astype("str") + " of " + agg["calls"].astype("str")
                  + " calls with a recording.")
        live = [number_live.get(i, pd.NA) for i in ids] if kind == "number" else pd.NA
        return _rows(len(agg), status=status, item_type=kind, item_id=ids, item_label=labels, reason=reason,
                     recording_share=share, live_recording_activated=live,
                     **{m: agg[m] for m in measures})

    total_frame = total.to_frame().T
    parts = [
        block("overall", total_frame, ["all"], ["all calls"]),
        block("day", by_day, list(by_day.index), list(by_day.index)),
        block("team", by_team, list(by_team.index), [team_names.get(t, t) for t in by_team.index]),
        block("number", by_number, ["(none)" if i == -1 else str(i) for i in by_number.index],
              ["(no number)" if i == -1 else number_name.get(str(i)) or str(i) for i in by_number.index]),
    ]
    rows = _concat(parts)
    share = float(total["recorded_answered_calls"] / total["answered_calls"]) if total["answered_calls"] else None
    if policy == "forbidden":
        n_rec = int(total["recorded_calls"])
        status, observed = (FAIL if n_rec else PASS), n_rec
        reason = f"{_plural(n_rec, 'call')} with a recording out of {int(total['calls'])}; recording is forbidden."
    else:
        observed = round(share, 4)
        n_below = int((rows["status"] == WARN).sum())
        if policy == "required" and share < float(min_share):
            status = FAIL
        elif n_below:
            status = WARN
        else:
            status = PASS
        reason = (f"{int(total['recorded_answered_calls'])} of {int(total['answered_calls'])} answered calls "
                  f"recorded ({share:.1%})" + (f"; {n_below} day/team/number group(s) below {min_share:.0%}"
                                             if n_below else "") + f"; policy: {policy}.")
    return _outcome(spec, status, observed, threshold, reason, _findings(spec, rows, specifics))
