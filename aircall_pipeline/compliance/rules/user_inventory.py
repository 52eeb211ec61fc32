"""AC-01 user inventory: every user fetched, none duplicated, reconciled with the company count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_01, FAIL, PASS, WARN
from aircall_pipeline.compliance.rules.columns import _company_field, _id_str, _label, _users_view
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _concat,
    _findings,
    _outcome,
    _plural,
    _rows,
    _worst,
)


def user_inventory(users: pd.DataFrame, company: pd.DataFrame | Mapping[str, Any] | None) -> CheckOutcome:
    """Users fetched == company.users_count, with no duplicate or missing ids.

    Only the problems are listed; the population itself is the `users` evidence table. A missing
    company count fails rather than skips: AC-01 is blocking, and a count that cannot be reconciled
    is not evidence of completeness.
    """
    spec = AC_01
    view = _users_view(users)
    expected = _company_field(company, "users_count")
    fetched = int(view["user_id"].dropna().nunique())
    threshold = (f"distinct users fetched == company.users_count ({expected if expected is not None else 'unknown'});"
                 " no duplicate or missing user ids")
    specifics = {"email": "str", "occurrences": "Int64", "fetched": "Int64", "expected": "Int64"}
    parts = []
    if expected is None:
        parts.append(_rows(1, status=FAIL, item_type="company", item_id="users_count", item_label="company",
                           reason="The company record has no users_count, so the user list cannot be reconciled.",
                           fetched=fetched))
    elif expected != fetched:
        parts.append(_rows(1, status=FAIL, item_type="company", item_id="users_count", item_label="company",
                           reason=f"{fetched} distinct users fetched but the company reports {expected}.",
                           fetched=fetched, expected=expected))
    null_ids = view[view["user_id"].isna()]
    if len(null_ids):
        parts.append(_rows(null_ids.index, status=FAIL, item_type="user", item_id=pd.NA,
                           item_label=_label(null_ids), reason="User row without an id.", email=null_ids["email"]))
    counts = view.groupby("user_id")["user_id"].transform("size")
    dup = view[view["user_id"].notna() & (counts > 1)].drop_duplicates("user_id")
    if len(dup):
        occ = counts[dup.index]
        parts.append(_rows(dup.index, status=FAIL, item_type="user", item_id=_id_str(dup["user_id"]),
                           item_label=_label(dup), email=dup["email"], occurrences=occ,
                           reason="User id listed " + occ.astype("str") + " times: pages overlapped or shifted "
                           "during collection."))
    uniq = view.drop_duplicates("user_id")
    email_counts = uniq.groupby("email")["user_id"].transform("size")
    dup_email = uniq[uniq["email"].notna() & (email_counts > 1)]
    if len(dup_email):
        occ = email_counts[dup_email.index]
        parts.append(_rows(dup_email.index, status=WARN, item_type="user", item_id=_id_str(dup_email["user_id"]),
                           item_label=_label(dup_email), email=dup_email["email"], occurrences=occ,
                           reason="Email shared by " + occ.astype("str") + " user ids (see AC-05)."))
    no_email = uniq[uniq["email"].isna() & uniq["user_id"].notna()]
    if len(no_email):
        parts.append(_rows(no_email.index, status=WARN, item_type="user", item_id=_id_str(no_email["user_id"]),
                           item_label=_label(no_email),
                           reason="User has no email, so it cannot be matched to a person."))
    rows = _concat(parts)
    status = _worst(rows["status"]) if len(rows) else PASS
    problems = len(rows)
    reason = (f"{fetched} distinct users fetched, company reports "
              f"{expected if expected is not None else 'no count'}; {_plural(problems, 'problem')} listed.")
    return _outcome(spec, status, fetched, threshold, reason, _findings(spec, rows, specifics))
