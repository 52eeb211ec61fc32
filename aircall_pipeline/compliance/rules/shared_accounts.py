"""AC-05 shared accounts: role mailboxes and duplicated people, unless documented with an owner."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import AC_05, DEFAULT_SHARED_PATTERNS, FAIL, PASS, WARN
from aircall_pipeline.compliance.rules.columns import (
    _exceptions_frame,
    _id_str,
    _label,
    _normalize_name,
    _users_view,
)
from aircall_pipeline.compliance.rules.findings import CheckOutcome, _findings, _outcome, _plural, _rows


def _pattern_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    words = sorted({p.strip().lower().rstrip("@") for p in patterns if p and p.strip()}, key=len, reverse=True)
    if not words:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile(r"^(" + "|".join(map(re.escape, words)) + r")(?:[-._+0-9].*)?$")


def shared_accounts(
    users: pd.DataFrame,
    *,
    patterns: Iterable[str] = DEFAULT_SHARED_PATTERNS,
    exceptions: Mapping[str, Any] | Iterable[str] = (),
) -> CheckOutcome:
    """Role mailboxes (support@, sales@ ...), duplicate emails and duplicate names.

    fail: a role mailbox without a documented exception naming an owner; an email used by several user
    ids (no exception can make that unique). warn: the same non-empty name on several accounts.
    """
    spec = AC_05
    patterns = tuple(patterns)
    regex = _pattern_regex(patterns)
    threshold = ("no role mailbox (local part " + ", ".join(sorted({p.rstrip('@') for p in patterns})[:12])
                 + ("…" if len(patterns) > 12 else "") + ") without a documented exception with an owner; "
                 "no email or name shared by several accounts")
    specifics = {"email": "str", "name": "str", "flags": "str", "pattern_matched": "str",
                 "exception_owner": "str", "exception_reason": "str"}
    view = _users_view(users).drop_duplicates("user_id")
    exc = _exceptions_frame(exceptions)
    view = view.merge(exc.rename(columns={"owner": "exception_owner", "reason": "exception_reason"}),
                      on="email", how="left")
    local = view["email"].str.replace(r"@.*$", "", regex=True)
    local = local.str.replace(r"\+.*$", "", regex=True)
    matched = local.str.extract(regex, expand=False)
    is_role = matched.notna()
    dup_email = view["email"].notna() & view["email"].duplicated(keep=False)
    name = _normalize_name(view["name"])
    dup_name = name.notna() & name.duplicated(keep=False) & ~dup_email
    documented = view["exception_owner"].notna()
    excepted_only = view["email"].isin(set(exc["email"])) & ~documented

    flags = pd.Series("", index=view.index, dtype="str")
    flags = flags.where(~is_role, flags + "role_mailbox;")
    flags = flags.where(~dup_email, flags + "duplicate_email;")
    flags = flags.where(~dup_name, flags + "duplicate_name;")
    flags = flags.str.rstrip(";")
    flagged = is_role | dup_email | dup_name

    status = pd.Series(PASS, index=view.index, dtype=object)
    status[dup_name & ~documented] = WARN
    status[is_role & ~documented] = FAIL
    status[dup_email] = FAIL
    reasons = pd.Series("", index=view.index, dtype="str")
    reasons = reasons.where(~is_role, reasons + np.where(
        documented, "Role mailbox '" + matched.fillna("") + "' documented as shared (owner "
        + view["exception_owner"].fillna("") + "). ",
        np.where(excepted_only, "Role mailbox '" + matched.fillna("") + "' listed as an exception without an owner. ",
                 "Role mailbox '" + matched.fillna("") + "' with no documented exception. ")))
    email_n = view.groupby("email")["user_id"].transform("size")
    reasons = reasons.where(~dup_email, reasons + "Email used by " + email_n.astype("Int64").astype("str")
                            + " user ids. ")
    name_n = view.assign(_n=name).groupby("_n")["user_id"].transform("size")
    reasons = reasons.where(~dup_name, reasons + "Name shared by " + name_n.astype("Int64").astype("str")
                            + " accounts" + np.where(documented, " (documented exception). ", ". "))
    shown = view[flagged]
    rows = _rows(shown.index, status=status[shown.index], item_type="user", item_id=_id_str(shown["user_id"]),
                 item_label=_label(shown), reason=reasons[shown.index].str.strip(), email=shown["email"],
                 name=shown["name"], flags=flags[shown.index], pattern_matched=matched[shown.index],
                 exception_owner=shown["exception_owner"], exception_reason=shown["exception_reason"])
    n_fail = int((status[flagged] == FAIL).sum())
    n_warn = int((status[flagged] == WARN).sum())
    result = FAIL if n_fail else (WARN if n_warn else PASS)
    reason = (f"{_plural(n_fail, 'account')} shared or generic without a documented owner, "
              f"{n_warn} with a duplicate name, {int((status[flagged] == PASS).sum())} documented exceptions; "
              f"{len(view)} accounts evaluated.")
    return _outcome(spec, result, n_fail + n_warn, threshold, reason, _findings(spec, rows, specifics))
