"""AC-03 offboarding: no Aircall account of a person the roster says has left, past the SLA."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_03, FAIL, PASS, WARN
from aircall_pipeline.compliance.rules.columns import (
    _HOUR,
    UTC_DTYPE,
    _id_str,
    _iso,
    _label,
    _users_view,
    to_utc,
)
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _concat,
    _findings,
    _outcome,
    _plural,
    _rows,
)
from aircall_pipeline.compliance.rules.roster import (
    STATUS_SUSPENDED,
    STATUS_TERMINATED,
    STATUS_UNKNOWN,
    roster_or_skip,
    roster_status_kinds,
)
from aircall_pipeline.timestamps import ISO_UTC_FORMAT


def offboarding(
    users: pd.DataFrame,
    roster: pd.DataFrame | None,
    *,
    as_of: Any,
    sla_hours: float = 24,
    active_statuses: Iterable[str] = (),
    terminated_statuses: Iterable[str] = (),
    suspended_statuses: Iterable[str] = (),
) -> CheckOutcome:
    """Aircall users whose roster entry is terminated: fail beyond the SLA, warn within it.

    A person is terminated when every roster entry for the email is terminated (a rehire has an active
    entry) — an entry is terminated when its terminated_at has passed, or, without a date, when its
    status is a terminated status. Without a date the SLA cannot be shown to be met, so that fails.
    Also warn: Aircall users whose access is suspended in the roster (IdP), and every undated roster
    entry whose status is in no known vocabulary (it is counted as still employed, so it is listed).
    """
    spec = AC_03
    as_of = to_utc(as_of)
    threshold = f"no Aircall account of a person terminated more than {sla_hours:g} h before {_iso(as_of)}"
    specifics = {"email": "str", "name": "str", "roster_status": "str", "terminated_at": UTC_DTYPE,
                 "deadline": UTC_DTYPE, "hours_since_termination": "float64", "hours_overdue": "float64",
                 "sla_hours": "float64"}
    r = roster_or_skip(roster, spec, threshold, specifics, cannot="leavers cannot be identified")
    if isinstance(r, CheckOutcome):
        return r
    view = _users_view(users)
    dated = r["terminated_at"].notna()
    kinds = roster_status_kinds(r["roster_status"], active=active_statuses, terminated=terminated_statuses,
                                suspended=suspended_statuses)
    terminated = (dated & (r["terminated_at"] <= as_of)) | (~dated & (kinds == STATUS_TERMINATED))
    any_active = (~terminated).groupby(r["email"]).any()
    leaver_emails = any_active.index[~any_active.to_numpy()]
    term = r[terminated & r["email"].isin(leaver_emails)]
    # The latest termination of the person (NaT only when no entry has a date).
    term = term.sort_values("terminated_at", na_position="first").drop_duplicates("email", keep="last")
    matched = view.merge(term, on="email", how="inner")
    sla = pd.Timedelta(hours=float(sla_hours))
    since = (as_of - matched["terminated_at"]) / _HOUR
    deadline = matched["terminated_at"] + sla
    no_date = matched["terminated_at"].isna()
    overdue = no_date | (deadline < as_of)
    over_hours = (since - float(sla_hours)).where(overdue & ~no_date)
    reason = np.where(
        no_date,
        "Terminated in the roster (status " + matched["roster_status"].fillna("?") + ") without a date; "
        "the account is still in Aircall and the SLA cannot be shown to be met.",
        np.where(overdue,
                 "Terminated " + since.round(1).astype("str") + " h ago; still in Aircall "
                 + over_hours.round(1).astype("str") + " h past the " + f"{sla_hours:g} h SLA.",
                 "Terminated " + since.round(1).astype("str") + " h ago; still within the " + f"{sla_hours:g} h SLA "
                 "(remove before " + deadline.dt.strftime(ISO_UTC_FORMAT).fillna("?") + ")."))
    rows = _rows(matched.index, status=np.where(overdue, FAIL, WARN), item_type="user",
                 item_id=_id_str(matched["user_id"]), item_label=_label(matched), reason=reason,
                 email=matched["email"], name=matched["name"], roster_status=matched["roster_status"],
                 terminated_at=matched["terminated_at"], deadline=deadline, hours_since_termination=since,
                 hours_overdue=over_hours, sla_hours=float(sla_hours))
    # Suspended in the IdP, not a leaver, but the Aircall account still works.
    paused = r[~terminated & (kinds == STATUS_SUSPENDED) & ~r["email"].isin(leaver_emails)].drop_duplicates("email")
    paused = view.merge(paused, on="email", how="inner")
    paused_rows = _rows(paused.index, status=WARN, item_type="user", item_id=_id_str(paused["user_id"]),
                        item_label=_label(paused), email=paused["email"], name=paused["name"],
                        roster_status=paused["roster_status"],
                        reason="Access suspended in the roster (status " + paused["roster_status"].fillna("?")
                        + ") but the Aircall account is still active: confirm the person should keep it.")
    # A status in no known vocabulary counts as still employed: list it so that nobody is missed.
    unknown = r[~dated & (kinds == STATUS_UNKNOWN)]
    unknown_rows = _rows(unknown.index, status=WARN, item_type="roster_entry", item_id=unknown["email"],
                         item_label=unknown["email"], email=unknown["email"], name=unknown["roster_name"],
                         roster_status=unknown["roster_status"],
                         reason="Roster status " + unknown["roster_status"].fillna("?").map(repr)
                         + " is not a known HRIS/IdP status, so this person was counted as still employed. "
                         "Name it in the policy (active_statuses, terminated_statuses or suspended_statuses).")
    rows = _concat([rows, paused_rows, unknown_rows])
    n_over, n_within = int(overdue.sum()), int((~overdue).sum())
    n_unknown = len(unknown)
    status = FAIL if n_over else (WARN if n_within or len(paused) or n_unknown else PASS)
    n_matched = int(view["email"].isin(set(r["email"])).sum())
    reason = (f"{_plural(n_over, 'account')} of terminated people past the {sla_hours:g} h SLA, {n_within} within it; "
              f"{n_matched} of {len(view)} Aircall users matched to {len(leaver_emails)} leavers and "
              f"{int(any_active.sum())} active people in the roster.")
    if len(paused):
        reason += f" {_plural(len(paused), 'Aircall user')} suspended in the roster."
    if n_unknown:
        values = ", ".join(repr(v) for v in sorted(unknown["roster_status"].dropna().unique())[:5])
        reason += f" {_plural(n_unknown, 'roster entry', 'roster entries')} with an unknown status ({values})."
    return _outcome(spec, status, n_over, threshold, reason, _findings(spec, rows, specifics))
