"""The compliance rules: one pure pandas function per check, each returning a `CheckOutcome`.

No Dagster here: the asset layer (compliance/assets.py) reads the evidence tables, calls these
functions, writes `findings` as the check's evidence table and turns the outcome into an asset check
result. Input tables follow the normalised schemas in docs/architecture.md; every function copes with
empty frames, nulls, empty names and odd emails (case, whitespace), and none loops over calls in Python.

`findings` is the table an auditor reads: one row per evaluated or offending item, with why. Its first
six columns are the same for every check (check_id, status, item_type, item_id, item_label, reason);
`item_id` is always a string so that the findings of every check can be concatenated, and ids above
2**53 survive exactly. A check that lacks its input returns `skip` with the reason, never `pass`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aircall_pipeline.compliance.catalogue import (
    AC_01,
    AC_02,
    AC_03,
    AC_04,
    AC_05,
    AC_06,
    AC_07,
    AC_08,
    AC_09,
    AC_10,
    AC_14,
    AC_15,
    ACTIVE_STATUSES,
    AIRCALL_RESULT_CAP,
    BY_ID,
    DEFAULT_PRIVILEGED_ROLES,
    DEFAULT_SHARED_PATTERNS,
    ERROR,
    FAIL,
    PASS,
    SKIP,
    STATUSES,
    SUSPENDED_STATUSES,
    TERMINATED_STATUSES,
    WARN,
    CheckSpec,
    status_key,
)

UTC_DTYPE = "datetime64[us, UTC]"
BASE_COLUMNS = ("check_id", "status", "item_type", "item_id", "item_label", "reason")
RECORDING_POLICIES = ("report", "required", "forbidden")
_HOUR = pd.Timedelta(hours=1)
_DAY = pd.Timedelta(days=1)
_STATUS_RANK = {FAIL: 0, WARN: 1, SKIP: 2, PASS: 3}


class RuleInputError(ValueError):
    """An input table does not have the shape the rules expect (a bug upstream, not a finding)."""


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check, as in docs/architecture.md."""

    check_id: str
    name: str
    status: str
    observed: object
    threshold: str
    controls: tuple[str, ...]
    reason: str
    # A DataFrame has no usable ==, so it takes no part in comparing outcomes.
    findings: pd.DataFrame = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"{self.check_id}: status {self.status!r} is not one of {STATUSES}")

    def summary(self) -> dict[str, Any]:
        """The JSON-serialisable part (checks.json / manifest `checks` entries)."""
        return {
            "id": self.check_id,
            "name": self.name,
            "status": self.status,
            "observed": self.observed,
            "threshold": self.threshold,
            "controls": list(self.controls),
            "reason": self.reason,
            "findings": len(self.findings),
        }


# --------------------------------------------------------------------------------------------------
# Helpers


def _outcome(
    spec: CheckSpec, status: str, observed: object, threshold: str, reason: str, findings: pd.DataFrame
) -> CheckOutcome:
    return CheckOutcome(spec.check_id, spec.name, status, observed, threshold, spec.controls, reason, findings)


def _findings(spec: CheckSpec, rows: pd.DataFrame | None, specifics: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Typed findings table: the six base columns, then the check's own columns, in a stable order."""
    columns = {"check_id": "str", "status": "str", "item_type": "str", "item_id": "str", "item_label": "str",
               "reason": "str", **(specifics or {})}
    if rows is None or rows.empty:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
    rows = rows.reset_index(drop=True)
    data = {}
    for name, dtype in columns.items():
        if name == "check_id":
            values = pd.Series(spec.check_id, index=rows.index)
        elif name in rows.columns:
            values = rows[name]
        else:
            values = pd.Series(pd.NA, index=rows.index, dtype=object)
        data[name] = _cast(values, dtype)
    out = pd.DataFrame(data)
    # Worst first, then the order the rule produced: stable and deterministic across reruns.
    order = out["status"].map(_STATUS_RANK).fillna(9).to_numpy()
    return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def _cast(values: pd.Series, dtype: str) -> pd.Series:
    if dtype == UTC_DTYPE:
        return _utc_series(values)
    if dtype == "str":
        return values.astype("str")
    if dtype == "float64":
        # float() refuses pd.NA, so missing values go through NaN first.
        return values.astype(object).where(values.notna(), np.nan).astype("float64")
    return values.astype(dtype)


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame()


def _rows(n: int | pd.Index, **columns: Any) -> pd.DataFrame:
    """A block of finding rows; scalars are broadcast."""
    index = pd.RangeIndex(n) if isinstance(n, int) else n
    data = {}
    for key, value in columns.items():
        if isinstance(value, pd.Series):
            data[key] = value.set_axis(index) if len(value) == len(index) else value
        elif isinstance(value, (np.ndarray, list)):
            data[key] = pd.Series(value, index=index)
        else:
            data[key] = pd.Series([value] * len(index), index=index, dtype=object)
    return pd.DataFrame(data, index=index)


def _concat(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        return _empty_rows()
    return pd.concat([p.reset_index(drop=True).astype(object) for p in parts], ignore_index=True)


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
    return to_utc(ts).isoformat().replace("+00:00", "Z")


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


def _worst(statuses: Iterable[str]) -> str:
    statuses = set(statuses)
    for status in (FAIL, WARN):
        if status in statuses:
            return status
    return PASS


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _skip(spec: CheckSpec, threshold: str, reason: str, rows: pd.DataFrame | None = None,
          specifics: Mapping[str, str] | None = None) -> CheckOutcome:
    return _outcome(spec, SKIP, None, threshold, reason, _findings(spec, rows, specifics))


def error_outcome(check: str | CheckSpec, exc: BaseException) -> CheckOutcome:
    """The outcome to record when a rule could not run (bad input, a bug): visible, never a pass."""
    spec = check if isinstance(check, CheckSpec) else BY_ID[check]
    reason = f"The check could not be evaluated: {type(exc).__name__}: {exc}"
    return _outcome(spec, ERROR, None, "n/a", reason, _findings(spec, None))


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


# --------------------------------------------------------------------------------------------------
# AC-01 user inventory


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


# --------------------------------------------------------------------------------------------------
# AC-02 privileged access


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


# --------------------------------------------------------------------------------------------------
# Roster helpers (AC-03, AC-04)


def _roster_view(roster: pd.DataFrame) -> pd.DataFrame:
    _require(roster, "roster", ["email"])
    return pd.DataFrame({
        "email": normalize_email(roster["email"]),
        "roster_name": _col(roster, "name").astype("str"),
        "roster_status": _col(roster, "status").astype("str").str.strip().str.lower(),
        "terminated_at": _utc_series(_col(roster, "terminated_at", UTC_DTYPE)),
    }).dropna(subset=["email"]).reset_index(drop=True)


STATUS_TERMINATED, STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_UNKNOWN = "terminated", "active", "suspended", "unknown"


def roster_status_kinds(
    statuses: pd.Series,
    *,
    active: Iterable[str] = (),
    terminated: Iterable[str] = (),
    suspended: Iterable[str] = (),
) -> pd.Series:
    """Each roster status as terminated | active | suspended | unknown: the longest known phrase
    the status starts with, word for word (catalogue.py), the policy's own phrases included."""
    phrases: dict[tuple[str, ...], str] = {}
    for kind, builtin, extra in ((STATUS_ACTIVE, ACTIVE_STATUSES, active),
                                 (STATUS_SUSPENDED, SUSPENDED_STATUSES, suspended),
                                 (STATUS_TERMINATED, TERMINATED_STATUSES, terminated)):
        for phrase in (*builtin, *extra):
            phrases[tuple(status_key(phrase).split())] = kind

    def kind_of(status: Any) -> str:
        if status is None or pd.isna(status):
            return STATUS_UNKNOWN
        words = tuple(status_key(status).split())
        for n in range(len(words), 0, -1):
            if words[:n] in phrases:
                return phrases[words[:n]]
        return STATUS_UNKNOWN

    kinds = {value: kind_of(value) for value in statuses.dropna().unique()}
    return statuses.map(kinds).fillna(STATUS_UNKNOWN).astype("str")


# --------------------------------------------------------------------------------------------------
# AC-03 offboarding


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
    if roster is None:
        return _skip(spec, threshold, "No roster is configured (roster_uri), so leavers cannot be identified.",
                     specifics=specifics)
    r = _roster_view(roster)
    if r.empty:
        return _skip(spec, threshold, "The roster has no rows with an email, so leavers cannot be identified.",
                     specifics=specifics)
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
                 "(remove before " + deadline.dt.strftime("%Y-%m-%dT%H:%M:%SZ").fillna("?") + ")."))
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


# --------------------------------------------------------------------------------------------------
# AC-04 unmatched accounts


def unmatched_accounts(
    users: pd.DataFrame, roster: pd.DataFrame | None, *, exceptions: Mapping[str, Any] | Iterable[str] = ()
) -> CheckOutcome:
    """Aircall users whose email is neither in the roster nor a documented exception."""
    spec = AC_04
    threshold = "every Aircall user's email is in the roster or on the documented exception list"
    specifics = {"email": "str", "name": "str", "created_at": UTC_DTYPE, "exception_owner": "str",
                 "exception_reason": "str"}
    if roster is None:
        return _skip(spec, threshold, "No roster is configured (roster_uri), so accounts cannot be matched to people.",
                     specifics=specifics)
    r = _roster_view(roster)
    if r.empty:
        return _skip(spec, threshold, "The roster has no rows with an email, so accounts cannot be matched to people.",
                     specifics=specifics)
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


# --------------------------------------------------------------------------------------------------
# AC-05 shared accounts


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


# --------------------------------------------------------------------------------------------------
# AC-06 dormant accounts


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


# --------------------------------------------------------------------------------------------------
# AC-07 access changes


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


# --------------------------------------------------------------------------------------------------
# AC-08 team coverage


def team_coverage(users: pd.DataFrame, teams: pd.DataFrame | None, team_members: pd.DataFrame | None) -> CheckOutcome:
    """Users in no team and teams with no member (warn); one pass row per non-empty team with its size."""
    spec = AC_08
    threshold = "every user belongs to at least one team; every team has at least one member"
    specifics = {"email": "str", "name": "str", "member_count": "Int64"}
    if teams is None or team_members is None:
        return _skip(spec, threshold, "Teams or team memberships were not collected.", specifics=specifics)
    _require(teams, "teams", ["team_id"])
    _require(team_members, "team_members", ["team_id", "user_id"])
    view = _users_view(users).drop_duplicates("user_id")
    members = pd.DataFrame({"team_id": _ids(team_members["team_id"]), "user_id": _ids(team_members["user_id"])})
    no_team = view[~view["user_id"].isin(set(members["user_id"].dropna()))]
    counts = members.dropna().drop_duplicates().groupby("team_id")["user_id"].size()
    t = pd.DataFrame({"team_id": _ids(teams["team_id"]), "team_name": _col(teams, "name").astype("str")})
    t = t.dropna(subset=["team_id"]).drop_duplicates("team_id").sort_values("team_id", kind="stable")
    t["member_count"] = t["team_id"].map(counts).fillna(0).astype("Int64")
    t = t.reset_index(drop=True)
    empty = t["member_count"] == 0
    parts = [
        _rows(no_team.index, status=WARN, item_type="user", item_id=_id_str(no_team["user_id"]),
              item_label=_label(no_team), email=no_team["email"], name=no_team["name"],
              reason="User belongs to no team."),
        _rows(t.index, status=np.where(empty, WARN, PASS), item_type="team", item_id=_id_str(t["team_id"]),
              item_label=t["team_name"].fillna("(unnamed team)"), name=t["team_name"], member_count=t["member_count"],
              reason=np.where(empty, "Team has no member.", "Team has " + t["member_count"].astype("str") + " member(s).")),
    ]
    rows = _concat(parts)
    n_users, n_empty = len(no_team), int(empty.sum())
    status = WARN if (n_users or n_empty) else PASS
    reason = (f"{_plural(n_users, 'user')} in no team and {_plural(n_empty, 'empty team')} "
              f"({len(view)} users, {len(t)} teams).")
    return _outcome(spec, status, n_users + n_empty, threshold, reason, _findings(spec, rows, specifics))


# --------------------------------------------------------------------------------------------------
# AC-09 number inventory


def number_inventory(
    numbers: pd.DataFrame, number_users: pd.DataFrame | None, company: pd.DataFrame | Mapping[str, Any] | None
) -> CheckOutcome:
    """Numbers fetched == company.numbers_count (fail otherwise); numbers with no users (warn)."""
    spec = AC_09
    expected = _company_field(company, "numbers_count")
    threshold = (f"distinct numbers fetched == company.numbers_count "
                 f"({expected if expected is not None else 'unknown'}); every number has at least one user")
    specifics = {"name": "str", "country": "str", "live_recording_activated": "boolean", "user_count": "Int64",
                 "fetched": "Int64", "expected": "Int64"}
    if number_users is None:
        return _skip(spec, threshold, "Number assignments (number_users) were not collected.", specifics=specifics)
    _require(numbers, "numbers", ["number_id"])
    _require(number_users, "number_users", ["number_id", "user_id"])
    n = pd.DataFrame({"number_id": _ids(numbers["number_id"]), "name": _col(numbers, "name").astype("str"),
                      "country": _col(numbers, "country").astype("str"),
                      "live_recording_activated": _col(numbers, "live_recording_activated", "boolean")})
    fetched = int(n["number_id"].dropna().nunique())
    assign = pd.DataFrame({"number_id": _ids(number_users["number_id"]), "user_id": _ids(number_users["user_id"])})
    counts = assign.dropna().drop_duplicates().groupby("number_id")["user_id"].size()
    parts = []
    if expected is None:
        parts.append(_rows(1, status=FAIL, item_type="company", item_id="numbers_count", item_label="company",
                           fetched=fetched, reason="The company record has no numbers_count to reconcile against."))
    elif expected != fetched:
        parts.append(_rows(1, status=FAIL, item_type="company", item_id="numbers_count", item_label="company",
                           fetched=fetched, expected=expected,
                           reason=f"{fetched} distinct numbers fetched but the company reports {expected}."))
    dup = n[n["number_id"].notna() & n["number_id"].duplicated(keep="first")]
    if len(dup):
        parts.append(_rows(dup.index, status=FAIL, item_type="number", item_id=_id_str(dup["number_id"]),
                           item_label=dup["name"].fillna("(unnamed number)"), name=dup["name"],
                           reason="Number listed more than once: pages overlapped or shifted during collection."))
    uniq = n.dropna(subset=["number_id"]).drop_duplicates("number_id").sort_values("number_id", kind="stable")
    uniq = uniq.reset_index(drop=True)
    uniq["user_count"] = uniq["number_id"].map(counts).fillna(0).astype("Int64")
    lonely = uniq[uniq["user_count"] == 0]
    parts.append(_rows(lonely.index, status=WARN, item_type="number", item_id=_id_str(lonely["number_id"]),
                       item_label=lonely["name"].fillna("(unnamed number)"), name=lonely["name"],
                       country=lonely["country"], live_recording_activated=lonely["live_recording_activated"],
                       user_count=lonely["user_count"], reason="Number has no assigned user."))
    rows = _concat(parts)
    status = _worst(rows["status"]) if len(rows) else PASS
    reason = (f"{fetched} distinct numbers fetched, company reports {expected if expected is not None else 'no count'}; "
              f"{_plural(len(lonely), 'number')} without users.")
    return _outcome(spec, status, fetched, threshold, reason, _findings(spec, rows, specifics))


# --------------------------------------------------------------------------------------------------
# AC-10 recording posture


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


# --------------------------------------------------------------------------------------------------
# AC-14 calls completeness


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
    threshold = (f"every call window has fetched == meta.total and meta.total < {AIRCALL_RESULT_CAP:,}; "
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
    w = w.sort_values(["window_from", "window_to"], kind="stable").reset_index(drop=True)
    unknown = w["meta_total"].isna() | w["fetched"].isna()
    capped = ~unknown & (w["meta_total"] >= AIRCALL_RESULT_CAP).fillna(False)
    short = ~unknown & (w["fetched"] != w["meta_total"]).fillna(False)
    flagged = (w["complete"] == False).fillna(False)  # noqa: E712 - nullable boolean comparison
    bad = unknown | capped | short | flagged
    reason = pd.Series("Fetched " + w["fetched"].astype("str").fillna("?") + " of "
                       + w["meta_total"].astype("str").fillna("?") + " calls.", index=w.index)
    reason = reason.where(~unknown, "The API total or the fetched count was not recorded.")
    reason = reason.where(~capped, reason + f" The window holds {AIRCALL_RESULT_CAP:,} or more calls: "
                          "results past the cap are unreachable.")
    reason = reason.where(~short, reason + " Counts differ: calls were missed or duplicated.")
    reason = reason.where(~flagged, reason + " The collector marked the window incomplete.")
    label = w["window_from"].dt.strftime("%Y-%m-%dT%H:%M:%SZ") + "/" + w["window_to"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [_rows(w.index, status=np.where(bad, FAIL, PASS), item_type="window", item_id=label, item_label=label,
                   reason=reason, window_from=w["window_from"], window_to=w["window_to"],
                   meta_total=w["meta_total"], fetched=w["fetched"])]
    prev_to = w["window_to"].cummax().shift(1)
    if period:
        prev_to.iloc[0] = period_from
    gap = (w["window_from"] > prev_to).fillna(False)
    if gap.any():
        g = w[gap]
        gl = prev_to[gap].dt.strftime("%Y-%m-%dT%H:%M:%SZ") + "/" + g["window_from"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
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


# --------------------------------------------------------------------------------------------------
# AC-15 evidence freshness

_CLOCK_SKEW = pd.Timedelta(minutes=5)


def evidence_freshness(newest_collected_at: Any | None, *, as_of: Any, max_age_hours: float = 30) -> CheckOutcome:
    """The newest evidence's collected_at is at most `max_age_hours` old at `as_of`.

    The one evaluation of evidence freshness: the AC-15 asset (compliance/assets.py) and the
    freshness alert sensor both decide through it (operations/freshness.py). No earlier evidence at
    all is a `skip` (a first run, or a throwaway instance; the sensor measures from when it started
    watching instead); a timestamp in the future (beyond 5 minutes of clock skew) warns.
    """
    spec = AC_15
    as_of = to_utc(as_of)
    threshold = f"newest evidence collected at most {max_age_hours:g} h before {_iso(as_of)}"
    specifics = {"collected_at": UTC_DTYPE, "age_hours": "float64"}
    if newest_collected_at is None or pd.isna(newest_collected_at):
        return _skip(spec, threshold, "No earlier evidence report is recorded (a first run, or a throwaway "
                     "Dagster instance), so the age of the newest evidence cannot be measured.",
                     specifics=specifics)
    collected = to_utc(newest_collected_at)
    age = (as_of - collected) / _HOUR
    if collected - as_of > _CLOCK_SKEW:
        status, why = WARN, f"collected_at {_iso(collected)} is {-age:.2f} h in the future (clock skew?)."
    elif age > max_age_hours:
        status, why = FAIL, f"Newest evidence is {age:.2f} h old, older than {max_age_hours:g} h."
    else:
        status, why = PASS, f"Newest evidence is {age:.2f} h old."
    rows = _rows(1, status=status, item_type="evidence", item_id=_iso(collected), item_label="newest evidence",
                 reason=why, collected_at=collected, age_hours=age)
    return _outcome(spec, status, round(float(age), 2), threshold, why, _findings(spec, rows, specifics))
