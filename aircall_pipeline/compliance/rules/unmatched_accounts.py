"""AC-04 unmatched accounts: every Aircall user is a person on the roster, or a documented exception."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_04, FAIL, PASS
from aircall_pipeline.compliance.rules.columns import (
    UTC_DTYPE,
    _exceptions_frame,
    _id_str,
    _label,
    _users_view,
)
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _findings,
    _outcome,
    _plural,
    _rows,
)
from aircall_pipeline.compliance.rules.roster import roster_or_skip


def unmatched_accounts(
    users: pd.DataFrame, roster: pd.DataFrame | None, *, exceptions: Mapping[str, Any] | Iterable[str] = ()
) -> CheckOutcome:
    """Aircall users whose email is neither in the roster nor a documented exception."""
    spec = AC_04
    threshold = "every Aircall user's email is in the roster or on the documented exception list"
    specifics = {"email": "str", "name": "str", "created_at": UTC_DTYPE, "exception_owner": "str",
                 "exception_reason": "str"}
    r = roster_or_skip(roster, spec, threshold, specifics, cannot="accounts cannot be matched to people")
    if isinstance(r, CheckOutcome):
        return r
    view = _users_view(users)
    exc = _exceptions_frame(exceptions)
    in_roster = view["email"].isin(set(r["email"]))
    merged = view.merge(exc.rename(columns={"owner": "exception_owner", "reason": "exception_reason"}),
                        on="email", how="left")
    excepted = ~in_roster & view["email"].isin(set(exc["email"]))
    unmatched = ~in_roster & ~excepted
    shown = merged[unmatched | excepted]
    reason = np.where(excepted[shown.index], "Not in the roster; documented exception.",
                      np.where(shown["email"].isna(), "User has no email, so it cannot be matched to a person.",
                               "Email not found in the roster and not a documented exception."))
    rows = _rows(shown.index, status=np.where(excepted[shown.index], PASS, FAIL), item_type="user",
                 item_id=_id_str(shown["user_id"]), item_label=_label(shown), reason=reason, email=shown["email"],
                 name=shown["name"], created_at=shown["created_at"], exception_owner=shown["exception_owner"],
                 exception_reason=shown["exception_reason"])
    n = int(unmatched.sum())
    reason = (f"{_plural(n, 'Aircall user')} not matched to the roster; {int(in_roster.sum())} matched, "
              f"{int(excepted.sum())} covered by documented exceptions.")
    return _outcome(spec, FAIL if n else PASS, n, threshold, reason, _findings(spec, rows, specifics))
