"""AC-07 access changes: joiners, leavers and email changes since the previous snapshot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_07, PASS
from aircall_pipeline.compliance.rules.columns import UTC_DTYPE, _id_str, _users_view
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _findings,
    _outcome,
    _plural,
    _rows,
    _skip,
)


def access_changes(users: pd.DataFrame, previous_users: pd.DataFrame | None, *, previous_date: Any) -> CheckOutcome:
    """Joiners, leavers and email changes since the previous users snapshot.

    Always `pass` with the lists: a joiner or leaver is not a deviation. The table is the population
    auditors sample (25-40 of each in a SOC 2 Type II) against provisioning tickets; timeliness of
    removals is AC-03. A `warn` here would fire on every normal hire and teach people to ignore warns.
    """
    spec = AC_07
    since = f"the users snapshot of {previous_date}" if previous_date else "the previous users snapshot"
    threshold = (f"informational: changes since {since}; "
                 "each joiner/leaver is sampled against its ticket")
    specifics = {"change": "str", "email": "str", "previous_email": "str", "name": "str", "created_at": UTC_DTYPE}
    if previous_users is None:
        return _skip(spec, threshold, "No previous users snapshot, so changes cannot be computed (first run).",
                     specifics=specifics)
    cur = _users_view(users).dropna(subset=["user_id"]).drop_duplicates("user_id")
    prev = _users_view(previous_users).dropna(subset=["user_id"]).drop_duplicates("user_id")
    merged = cur.merge(prev, on="user_id", how="outer", suffixes=("", "_prev"), indicator=True)
    merged = merged.sort_values("user_id", kind="stable").reset_index(drop=True)
    joiner = merged["_merge"] == "left_only"
    leaver = merged["_merge"] == "right_only"
    both = merged["_merge"] == "both"
    changed = both & (merged["email"].fillna("") != merged["email_prev"].fillna(""))
    shown = merged[joiner | leaver | changed]
    change = np.where(joiner[shown.index], "joiner", np.where(leaver[shown.index], "leaver", "email_change"))
    email = shown["email"].where(~leaver[shown.index], shown["email_prev"])
    name = shown["name"].where(~leaver[shown.index], shown["name_prev"])
    created = shown["created_at"].where(~leaver[shown.index], shown["created_at_prev"])
    label = email.fillna(name).fillna("(no email, no name)")
    reason = np.where(change == "joiner", f"New account since {previous_date}.",
                      np.where(change == "leaver", f"Account removed since {previous_date}.",
                               "Email changed from " + shown["email_prev"].fillna("(none)") + " to "
                               + shown["email"].fillna("(none)") + "."))
    rows = _rows(shown.index, status=PASS, item_type="user", item_id=_id_str(shown["user_id"]), item_label=label,
                 reason=reason, change=change, email=email, previous_email=shown["email_prev"], name=name,
                 created_at=created)
    nj, nl, nc = int(joiner.sum()), int(leaver.sum()), int(changed.sum())
    reason = (f"{_plural(nj, 'joiner')}, {_plural(nl, 'leaver')} and {_plural(nc, 'email change')} since "
              f"{previous_date} ({len(prev)} users then, {len(cur)} now).")
    return _outcome(spec, PASS, nj + nl + nc, threshold, reason, _findings(spec, rows, specifics))
