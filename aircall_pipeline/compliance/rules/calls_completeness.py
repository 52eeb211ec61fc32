"""AC-14 calls completeness: every call window fetched whole, under the API's result cap, tiling the
day without gaps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.aircall.windows import MAX_RESULTS, NOT_COLLECTABLE
from aircall_pipeline.compliance.catalogue import AC_14, FAIL, PASS
from aircall_pipeline.compliance.rules.columns import (
    UTC_DTYPE,
    _col,
    _ids,
    _iso,
    _require,
    _utc_series,
    to_utc,
)
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _concat,
    _findings,
    _outcome,
    _plural,
    _rows,
    _skip,
)
from aircall_pipeline.timestamps import ISO_UTC_FORMAT


def calls_completeness(
    call_windows: pd.DataFrame | None, *, period_from: Any | None = None, period_to: Any | None = None
) -> CheckOutcome:
    """Every call window: fetched == meta_total and meta_total < 10,000, windows tiling without gaps.

    With `period_from`/`period_to` (e.g. the partition's day), the windows must also reach both ends.
    """
    spec = AC_14
    period = ""
    if period_from is not None and period_to is not None:
        period_from, period_to = to_utc(period_from), to_utc(period_to)
        period = f" from {_iso(period_from)} to {_iso(period_to)}"
    threshold = (f"every call window has fetched == meta.total and meta.total < {MAX_RESULTS:,}; "
                 f"windows tile the period{period} without gaps")
    specifics = {"window_from": UTC_DTYPE, "window_to": UTC_DTYPE, "meta_total": "Int64", "fetched": "Int64"}
    if call_windows is None:
        return _skip(spec, threshold, "Calls were not collected for this period.", specifics=specifics)
    _require(call_windows, "call_windows", ["window_from", "window_to", "meta_total", "fetched"])
    if len(call_windows) == 0:
        rows = _rows(1, status=FAIL, item_type="window", item_id="(none)", item_label="(none)",
                     reason="No call window was recorded, so completeness cannot be shown.")
        return _outcome(spec, FAIL, 0, threshold, "No call window was recorded for the period.",
                        _findings(spec, rows, specifics))
    w = pd.DataFrame({"window_from": _utc_series(call_windows["window_from"]),
                      "window_to": _utc_series(call_windows["window_to"]),
                      "meta_total": _ids(call_windows["meta_total"]), "fetched": _ids(call_windows["fetched"]),
                      "complete": _col(call_windows, "complete", "boolean")})
    # A window recorded as "not collectable" (an empty answer past the API's call history) proves
    # nothing about its calls: it fails, with its own reason, never passes as 0 of 0.
    status_col = call_windows["status"] if "status" in call_windows else pd.Series([None] * len(call_windows))
    w["not_collectable"] = (status_col.astype(object).to_numpy() == NOT_COLLECTABLE)
    w = w.sort_values(["window_from", "window_to"], kind="stable").reset_index(drop=True)
    unknown = w["meta_total"].isna() | w["fetched"].isna()
    capped = ~unknown & (w["meta_total"] >= MAX_RESULTS).fillna(False)
    short = ~unknown & (w["fetched"] != w["meta_total"]).fillna(False)
    uncollectable = w["not_collectable"]
    flagged = (w["complete"] == False).fillna(False) & ~uncollectable  # noqa: E712 - nullable boolean comparison
    bad = unknown | capped | short | flagged | uncollectable
    reason = pd.Series("Fetched " + w["fetched"].astype("str").fillna("?") + " of "
                       + w["meta_total"].astype("str").fillna("?") + " calls.", index=w.index)
    reason = reason.where(~unknown, "The API total or the fetched count was not recorded.")
    reason = reason.where(~capped, reason + f" The window holds {MAX_RESULTS:,} or more calls: "
                          "results past the cap are unreachable.")
    reason = reason.where(~short, reason + " Counts differ: calls were missed or duplicated.")
    reason = reason.where(~flagged, reason + " The collector marked the window incomplete.")
    reason = reason.where(~uncollectable, "Not collectable: Aircall answered an empty list for a window older than "
                          "every call it still serves (it keeps about six months), so its calls cannot be shown.")
    label = w["window_from"].dt.strftime(ISO_UTC_FORMAT) + "/" + w["window_to"].dt.strftime(ISO_UTC_FORMAT)
    parts = [_rows(w.index, status=np.where(bad, FAIL, PASS), item_type="window", item_id=label, item_label=label,
                   reason=reason, window_from=w["window_from"], window_to=w["window_to"],
                   meta_total=w["meta_total"], fetched=w["fetched"])]
    prev_to = w["window_to"].cummax().shift(1)
    if period:
        prev_to.iloc[0] = period_from
    gap = (w["window_from"] > prev_to).fillna(False)
    if gap.any():
        g = w[gap]
        gl = prev_to[gap].dt.strftime(ISO_UTC_FORMAT) + "/" + g["window_from"].dt.strftime(ISO_UTC_FORMAT)
        parts.append(_rows(g.index, status=FAIL, item_type="gap", item_id=gl, item_label=gl,
                           window_from=prev_to[gap], window_to=g["window_from"],
                           reason="No window covers this interval: calls in it were never requested."))
    if period and (w["window_to"].max() < period_to):
        last = w["window_to"].max()
        tl = _iso(last) + "/" + _iso(period_to)
        parts.append(_rows(1, status=FAIL, item_type="gap", item_id=tl, item_label=tl, window_from=last,
                           window_to=period_to,
                           reason="No window covers the end of the period: calls in it were never requested."))
    rows = _concat(parts)
    n_bad = int((rows["status"] == FAIL).sum())
    fetched, total = int(w["fetched"].sum()), int(w["meta_total"].sum())
    reason = (f"{_plural(n_bad, 'incomplete window or gap', 'incomplete windows or gaps')} out of "
              f"{_plural(len(w), 'window')}; {fetched} calls fetched for an API total of {total}.")
    return _outcome(spec, FAIL if n_bad else PASS, n_bad, threshold, reason, _findings(spec, rows, specifics))
