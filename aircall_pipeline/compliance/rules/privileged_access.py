"""AC-02 privileged access: the admins (from the roles file, or an API role column) within bounds."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_02, DEFAULT_PRIVILEGED_ROLES, FAIL, PASS, WARN
from aircall_pipeline.compliance.rules.columns import _id_str, _label, _require, _users_view, normalize_email
from aircall_pipeline.compliance.rules.findings import (
    CheckOutcome,
    _concat,
    _findings,
    _outcome,
    _rows,
    _skip,
    _worst,
)


def privileged_access(
    users: pd.DataFrame,
    roles: pd.DataFrame | None,
    *,
    min_admins: int = 2,
    max_admins: int = 5,
    privileged_roles: Iterable[str] = DEFAULT_PRIVILEGED_ROLES,
) -> CheckOutcome:
    """Admins (from the roles file, or an API `role` column should one appear) reconciled and counted.

    fail: more than max_admins, no admin at all among Aircall users, or (API roles) an admin the roles
    file does not approve. warn: fewer than min_admins (a continuity risk, not excess privilege),
    declared admins without an Aircall account, Aircall users with no declared role.
    """
    spec = AC_02
    privileged = tuple(sorted({r.strip().lower() for r in privileged_roles}))
    view = _users_view(users)
    api_roles = "role" in users.columns and users["role"].notna().any()
    threshold = (f"{min_admins}..{max_admins} privileged users (roles {', '.join(privileged)}) among Aircall users; "
                 "every declared admin has an Aircall account; every Aircall user has a declared role")
    specifics = {"email": "str", "name": "str", "role": "str", "role_source": "str"}
    if not api_roles and roles is None:
        return _skip(spec, threshold, "No roles file is configured (roles_uri) and the Aircall API exposes no role "
                     "field, so privileged users cannot be determined.", specifics=specifics)
    declared = None
    if roles is not None:
        _require(roles, "roles", ["email", "role"])
        declared = pd.DataFrame({"email": normalize_email(roles["email"]),
                                 "role": roles["role"].astype("str").str.strip().str.lower()}).dropna(subset=["email"])
        if declared.empty and not api_roles:
            return _skip(spec, threshold, "The roles file has no rows, so privileged users cannot be determined.",
                         specifics=specifics)
        declared["privileged"] = declared["role"].isin(privileged)
        # One email declared with several roles: privileged wins (the cautious reading), and it is flagged.
        per_email = declared.groupby("email", sort=True).agg(
            privileged=("privileged", "any"), roles=("role", lambda s: ";".join(sorted(s.dropna().unique()))),
            n_roles=("role", "nunique"))
        per_email = per_email.reset_index()
    parts = []
    label = _label(view)
    if api_roles:
        role_source = "api"
        api_role = users["role"].astype("str").str.strip().str.lower().reset_index(drop=True)
        is_admin = api_role.isin(privileged)
        admins = view[is_admin]
        approved = set(per_email.loc[per_email["privileged"], "email"]) if declared is not None else None
        ok = admins["email"].isin(approved) if approved is not None else pd.Series(True, index=admins.index)
        reason = pd.Series("Privileged in Aircall (API role field)" + (
            ", approved in the roles file." if approved is not None else "; no roles file to approve it against."),
            index=admins.index)
        reason = reason.where(ok, "Privileged in Aircall (API role field) but not approved in the roles file.")
        parts.append(_rows(admins.index, status=np.where(ok, PASS, FAIL), item_type="admin",
                           item_id=_id_str(admins["user_id"]), item_label=label[admins.index], email=admins["email"],
                           name=admins["name"], role=api_role[admins.index], role_source=role_source, reason=reason))
        no_role = view[api_role.isna()]
        parts.append(_rows(no_role.index, status=WARN, item_type="user", item_id=_id_str(no_role["user_id"]),
                           item_label=label[no_role.index], email=no_role["email"], name=no_role["name"],
                           role_source=role_source, reason="The API returned no role for this user."))
        if approved is not None:
            api_admin_emails = set(admins["email"].dropna())
            stale = per_email[per_email["privileged"] & ~per_email["email"].isin(api_admin_emails)]
            parts.append(_rows(stale.index, status=WARN, item_type="declared_admin", item_id=stale["email"],
                               item_label=stale["email"], email=stale["email"], role=stale["roles"],
                               role_source="roles_file",
                               reason="Approved as admin in the roles file but not privileged in Aircall."))
    else:
        role_source = "roles_file"
        merged = view.merge(per_email, on="email", how="left")
        admins = merged[merged["privileged"].fillna(False).astype(bool)]
        conflict = admins["n_roles"].fillna(1) > 1
        reason = pd.Series("Declared admin in the roles file with an Aircall account.", index=admins.index)
        reason = reason.where(~conflict, "Declared with several roles (" + admins["roles"].astype("str")
                              + "); counted as privileged.")
        parts.append(_rows(admins.index, status=np.where(conflict, WARN, PASS), item_type="admin",
                           item_id=_id_str(admins["user_id"]), item_label=label[admins.index],
                           email=admins["email"], name=admins["name"], role=admins["roles"],
                           role_source=role_source, reason=reason))
        stale = per_email[per_email["privileged"] & ~per_email["email"].isin(set(view["email"].dropna()))]
        parts.append(_rows(stale.index, status=WARN, item_type="declared_admin", item_id=stale["email"],
                           item_label=stale["email"], email=stale["email"], role=stale["roles"],
                           role_source=role_source,
                           reason="Declared admin in the roles file but no Aircall user has this email "
                                  "(stale roles file, or the person uses another email)."))
        undeclared = merged[merged["roles"].isna()]
        parts.append(_rows(undeclared.index, status=WARN, item_type="user", item_id=_id_str(undeclared["user_id"]),
                           item_label=_label(undeclared), email=undeclared["email"], name=undeclared["name"],
                           role_source=role_source,
                           reason="Aircall user with no role in the roles file: it may be an undeclared admin."))
    count = int(admins["user_id"].nunique(dropna=False)) if len(admins) else 0
    if count == 0:
        count_status, count_reason = FAIL, "No privileged user found among Aircall users: the roles do not describe this account."
    elif count > max_admins:
        count_status, count_reason = FAIL, f"{count} privileged users, more than the maximum of {max_admins}."
    elif count < min_admins:
        count_status, count_reason = WARN, f"{count} privileged user(s), fewer than the minimum of {min_admins} (continuity risk)."
    else:
        count_status, count_reason = PASS, f"{count} privileged users, within {min_admins}..{max_admins}."
    parts.insert(0, _rows(1, status=count_status, item_type="admin_count", item_id="admin_count",
                          item_label=f"{count} admins", role_source=role_source, reason=count_reason))
    rows = _concat(parts)
    status = _worst(rows["status"])
    n_warn = int((rows["status"] == WARN).sum())
    n_fail = int((rows["status"] == FAIL).sum())
    source_words = "the API role field" if api_roles else "the roles file (the Aircall API has no role field)"
    reason = f"{count_reason} Admins taken from {source_words}; {n_fail} failing and {n_warn} warning item(s)."
    return _outcome(spec, status, count, threshold, reason, _findings(spec, rows, specifics))
