"""The compliance policy (thresholds, recording policy, exceptions) and the roles / roster loaders.

The policy file is YAML or JSON with flat keys named like the `CompliancePolicy` fields; an unknown
key is an error (a typo such as `max_admin: 3` must not silently leave the default in force):

    roles_uri: /etc/aircall/roles.csv          # email,role — exported from the Aircall Dashboard or declared
    roster_uri: /etc/aircall/roster.json       # HRIS/IdP export: email,name,status,terminated_at
    min_admins: 2
    max_admins: 4
    offboarding_sla_hours: 24
    dormant_days: 90
    recording_policy: required                 # report | required | forbidden
    recording_min_share: 1.0
    freshness_max_age_hours: 30                # AC-15 and the evidence freshness alert
    terminated_statuses: [alumni]              # roster statuses beyond the built-in HRIS/IdP vocabularies
    access_review_max_age_days: 90             # AC-16: the newest signed access review may be this old
    approved_webhook_domains: [zapier.com, hubspot.com]   # AC-11; subdomains are covered (hooks.zapier.com)
    max_webhooks: 20
    exceptions:
      support@acme.example: {owner: jane.doe@acme.example, reason: "Support queue handset (TICKET-123)"}

Roles and roster files are CSV (header row) or JSON (a list of objects, or an object holding one such
list; roles may also be an {email: role} object) at a local path or file:// URI. Other schemes
(s3://…) need a `read_bytes(uri) -> bytes` callable. Loaded frames are normalised: emails lower-cased
and trimmed, roles and statuses lower-cased, terminated_at a UTC timestamp. Only the columns the checks
need are kept (an HR export may carry much more personal data than access evidence needs).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

import pandas as pd
import yaml

from aircall_pipeline.compliance.catalogue import (
    DEFAULT_PRIVILEGED_ROLES,
    DEFAULT_SHARED_PATTERNS,
    status_key,
)
from aircall_pipeline.compliance.rules import RECORDING_POLICIES, UTC_DTYPE
from aircall_pipeline.compliance.rules.egress import DEFAULT_MAX_WEBHOOKS, approved_domain

ReadBytes = Callable[[str], bytes]

# Input files are read whole into memory: a roster of 100,000 people is a few MB, a policy a few KB.
# Anything far larger is a wrong path (a log, a database dump) and is refused before it is parsed.
MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_POLICY_BYTES = 1024 * 1024
_LIST_KEYS = ("privileged_roles", "shared_patterns", "active_statuses", "terminated_statuses", "suspended_statuses")


class PolicyError(ValueError):
    """The policy file or a value in it is unusable; the message names the file and the key."""


class InputFileError(ValueError):
    """A roles or roster file is unreadable or malformed; the message names the file and the row."""


@dataclass(frozen=True)
class AccountException:
    """A documented exception for one account (AC-04 unmatched, AC-05 shared): who owns it and why."""

    owner: str
    reason: str


def _frozen_exceptions(value: Mapping[str, AccountException]) -> Mapping[str, AccountException]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class CompliancePolicy:
    roles_uri: str | None = None
    roster_uri: str | None = None
    min_admins: int = 2
    max_admins: int = 5
    privileged_roles: tuple[str, ...] = DEFAULT_PRIVILEGED_ROLES
    offboarding_sla_hours: float = 24.0
    dormant_days: int = 90
    shared_patterns: tuple[str, ...] = DEFAULT_SHARED_PATTERNS
    recording_policy: str = "report"
    recording_min_share: float = 1.0
    freshness_max_age_hours: float = 30.0
    # AC-16: PCI DSS 7.2.4 asks for at least every six months; quarterly is what SOC 2 auditors sample.
    access_review_max_age_days: int = 90
    # Roster statuses of this organisation beyond the built-in vocabularies (catalogue.py).
    active_statuses: tuple[str, ...] = ()
    terminated_statuses: tuple[str, ...] = ()
    suspended_statuses: tuple[str, ...] = ()
    # AC-11. None: no allow-list, the check skips; an empty list approves no destination at all.
    approved_webhook_domains: tuple[str, ...] | None = None
    max_webhooks: int = DEFAULT_MAX_WEBHOOKS
    # email (lower-cased) -> AccountException; read-only.
    exceptions: Mapping[str, AccountException] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        _validate(self, "policy")

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "policy") -> CompliancePolicy:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise PolicyError(f"{source}: the policy must be a mapping of keys to values, got {type(data).__name__}.")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(map(str, data)) - set(known))
        if unknown:
            raise PolicyError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed keys are {', '.join(known)}.")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "exceptions":
                kwargs[key] = _parse_exceptions(value, source)
            elif key in _LIST_KEYS:
                if isinstance(value, str) or not isinstance(value, (list, tuple)):
                    raise PolicyError(f"{source}: {key} must be a list of strings, got {value!r}.")
                kwargs[key] = tuple(value)
            elif key == "approved_webhook_domains" and value is not None:
                if isinstance(value, str) or not isinstance(value, (list, tuple)):
                    raise PolicyError(f"{source}: {key} must be a list of domains, got {value!r}.")
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        try:
            return cls(**kwargs)
        except PolicyError as exc:  # name the file rather than "policy"
            raise PolicyError(str(exc).replace("policy:", f"{source}:", 1)) from None

    @classmethod
    def from_file(cls, path: str | Path) -> CompliancePolicy:
        """Load a YAML (.yaml/.yml) or JSON (.json) policy file."""
        return cls.from_bytes(read_policy_file(path), path=path)

    @classmethod
    def from_bytes(cls, data: bytes, *, path: str | Path) -> CompliancePolicy:
        """Parse the bytes of the policy file at `path` (its suffix says YAML or JSON): the pipeline
        hashes the very bytes it parses, so the sealed hash is that of the policy in force."""
        path = Path(path)
        if len(data) > MAX_POLICY_BYTES:
            raise PolicyError(f"policy file {path}: larger than {MAX_POLICY_BYTES // 1024} KiB; is it the right file?")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PolicyError(f"policy file {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                data = json.loads(text) if text.strip() else {}
            elif suffix in (".yaml", ".yml"):
                data = yaml.safe_load(text)
            else:
                raise PolicyError(f"policy file {path}: use a .yaml, .yml or .json file.")
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise PolicyError(f"policy file {path}: not valid {suffix[1:].upper()}: {exc}") from None
        return cls.from_dict(data or {}, source=f"policy file {path}")

    def with_overrides(self, **changes: Any) -> CompliancePolicy:
        """A copy with the given fields replaced; None values are ignored (e.g. unset environment variables)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable view: the policy in force is part of the evidence."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in _LIST_KEYS:
            out[key] = list(getattr(self, key))
        if self.approved_webhook_domains is not None:
            out["approved_webhook_domains"] = list(self.approved_webhook_domains)
        out["exceptions"] = {email: {"owner": e.owner, "reason": e.reason} for email, e in sorted(self.exceptions.items())}
        return out


def read_policy_file(path: str | Path) -> bytes:
    """The policy file's bytes, at most one past the size cap (`from_bytes` refuses larger files)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"policy file {path}: cannot be read ({exc.strerror or exc}).") from None


def _validate(policy: CompliancePolicy, source: str) -> None:
    def fail(key: str, why: str) -> None:
        raise PolicyError(f"{source}: {key}={getattr(policy, key)!r} {why}")

    for key in ("roles_uri", "roster_uri"):
        value = getattr(policy, key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            fail(key, "must be a non-empty string (a path or URI) or absent.")
    for key in ("min_admins", "max_admins", "dormant_days", "access_review_max_age_days"):
        value = getattr(policy, key)
        if isinstance(value, bool) or not isinstance(value, int):
            fail(key, "must be a whole number.")
    if policy.min_admins < 0:
        fail("min_admins", "must be at least 0.")
    if policy.max_admins < max(policy.min_admins, 1):
        fail("max_admins", f"must be at least 1 and at least min_admins ({policy.min_admins}).")
    if policy.dormant_days < 1:
        fail("dormant_days", "must be at least 1.")
    if policy.access_review_max_age_days < 1:
        fail("access_review_max_age_days", "must be at least 1.")
    for key in ("offboarding_sla_hours", "recording_min_share", "freshness_max_age_hours"):
        value = getattr(policy, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(key, "must be a number.")
        if not math.isfinite(value):  # YAML's .nan and .inf are floats, and compare false with everything
            fail(key, "must be a finite number.")
        object.__setattr__(policy, key, float(value))
    if policy.offboarding_sla_hours < 0:
        fail("offboarding_sla_hours", "must be 0 or more.")
    if policy.freshness_max_age_hours <= 0:
        fail("freshness_max_age_hours", "must be more than 0.")
    if not 0.0 <= policy.recording_min_share <= 1.0:
        fail("recording_min_share", "must be between 0 and 1 (a share, e.g. 0.95).")
    if policy.recording_policy not in RECORDING_POLICIES:
        fail("recording_policy", f"must be one of {', '.join(RECORDING_POLICIES)}.")
    for key in _LIST_KEYS:
        value = getattr(policy, key)
        if isinstance(value, str) or not all(isinstance(v, str) and v.strip() for v in value):
            fail(key, "must be a list of non-empty strings.")
        norm = status_key if key.endswith("_statuses") else (lambda v: v.strip().lower())
        object.__setattr__(policy, key, tuple(norm(v) for v in value))
    if not policy.privileged_roles:
        fail("privileged_roles", "must name at least one role.")
    if not isinstance(policy.exceptions, Mapping):
        fail("exceptions", "must map emails to {owner, reason}.")
    normalised = {}
    for email, entry in policy.exceptions.items():
        if not isinstance(entry, AccountException):
            entry = _parse_exception_entry(email, entry, source)
        normalised[str(email).strip().lower()] = entry
    object.__setattr__(policy, "exceptions", _frozen_exceptions(normalised))
    _validate_webhook_policy(policy, fail)


def _validate_webhook_policy(policy: CompliancePolicy, fail: Callable[[str, str], None]) -> None:
    if isinstance(policy.max_webhooks, bool) or not isinstance(policy.max_webhooks, int) or policy.max_webhooks < 0:
        fail("max_webhooks", "must be a whole number, 0 or more.")
    domains = policy.approved_webhook_domains
    if domains is None:
        return
    if isinstance(domains, str) or not isinstance(domains, (list, tuple)):
        fail("approved_webhook_domains", "must be a list of domains, such as [zapier.com].")
    normalised = []
    for entry in domains:
        try:
            normalised.append(approved_domain(entry))
        except ValueError as exc:
            fail("approved_webhook_domains", f"has an entry {entry!r} that {exc}.")
    object.__setattr__(policy, "approved_webhook_domains", tuple(dict.fromkeys(normalised)))


def _parse_exception_entry(email: Any, entry: Any, source: str) -> AccountException:
    where = f"{source}: exceptions[{email!r}]"
    if not isinstance(email, str) or "@" not in email:
        raise PolicyError(f"{where}: the key must be an email address.")
    if not isinstance(entry, Mapping):
        raise PolicyError(f"{where}: must be {{owner: ..., reason: ...}}, got {entry!r}.")
    unknown = sorted(set(entry) - {"owner", "reason"})
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: owner, reason.")
    owner, reason = entry.get("owner"), entry.get("reason")
    for name, value in (("owner", owner), ("reason", reason)):
        if not isinstance(value, str) or not value.strip():
            raise PolicyError(f"{where}: {name} is required (a documented exception names who owns it and why).")
    return AccountException(owner=owner.strip(), reason=reason.strip())


def _parse_exceptions(value: Any, source: str) -> dict[str, AccountException]:
    if value is None:
        return {}
    if isinstance(value, list):  # [{email, owner, reason}, ...]
        out = {}
        for i, item in enumerate(value, start=1):
            if not isinstance(item, Mapping) or "email" not in item:
                raise PolicyError(f"{source}: exceptions item {i} must be {{email, owner, reason}}.")
            rest = {k: v for k, v in item.items() if k != "email"}
            out[str(item["email"]).strip().lower()] = _parse_exception_entry(item["email"], rest, source)
        return out
    if isinstance(value, Mapping):
        return {str(k).strip().lower(): _parse_exception_entry(k, v, source) for k, v in value.items()}
    raise PolicyError(f"{source}: exceptions must map emails to {{owner, reason}}, got {type(value).__name__}.")


# --------------------------------------------------------------------------------------------------
# Roles and roster files


_HEADER_ALIASES = {
    "e_mail": "email", "mail": "email", "work_email": "email", "email_address": "email", "user_email": "email",
    "full_name": "name", "display_name": "name",
    "employment_status": "status", "state": "status",
    "termination_date": "terminated_at", "terminated_on": "terminated_at", "termination_at": "terminated_at",
    "end_date": "terminated_at", "last_day": "terminated_at",
    "aircall_role": "role", "roles": "role",
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_MAX_REPORTED = 20


def _header(name: Any) -> str:
    key = re.sub(r"[\s\-]+", "_", str(name).strip().lower())
    return _HEADER_ALIASES.get(key, key)


def _read(uri: str, read_bytes: ReadBytes | None) -> bytes:
    data = _read_uncapped(uri, read_bytes)
    if len(data) > MAX_INPUT_BYTES:
        raise InputFileError(f"{uri}: larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB; is it the right file?")
    return data


def _read_uncapped(uri: str, read_bytes: ReadBytes | None) -> bytes:
    """The file's bytes; at most MAX_INPUT_BYTES + 1 of a local one (readers of other schemes cap
    their own reads, see ComplianceResource.read_bytes)."""
    if read_bytes is not None:
        try:
            return read_bytes(uri)
        except Exception as exc:  # the reader is the caller's; name the file whatever it raised
            raise InputFileError(f"{uri}: cannot be read ({type(exc).__name__}: {exc}).") from exc
    parts = urlsplit(uri)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif parts.scheme and len(parts.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise InputFileError(f"{uri}: {parts.scheme}:// files need a reader (pass read_bytes=...); "
                             "only local paths and file:// URIs are read directly.")
    else:
        path = Path(uri)
    try:
        with path.open("rb") as fh:
            return fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputFileError(f"{uri}: cannot be read ({exc.strerror or exc}).") from None


def _records(
    uri: str, data: bytes, list_keys: tuple[str, ...], *, email_mapping: bool = False
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """(row label, record with normalised keys) pairs and the format name."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{uri}: not UTF-8 text ({exc}).") from None
    path = urlsplit(uri).path.lower()
    is_json = path.endswith(".json") or (not path.endswith(".csv") and text.lstrip()[:1] in ("[", "{"))
    if is_json:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{uri}: not valid JSON: {exc}") from None
        if isinstance(doc, Mapping):
            lists = [k for k in doc if isinstance(doc[k], list)]
            chosen = [k for k in lists if k in list_keys] or lists
            if len(chosen) == 1:
                doc = doc[chosen[0]]
            elif email_mapping and doc and all(isinstance(v, str) for v in doc.values()):
                doc = [{"email": k, "role": v} for k, v in doc.items()]  # {email: role}
            else:
                raise InputFileError(f"{uri}: expected a list of records (or an object holding one list under "
                                     f"{' / '.join(list_keys)}).")
        if not isinstance(doc, list):
            raise InputFileError(f"{uri}: expected a list of records, got {type(doc).__name__}.")
        out = []
        for i, item in enumerate(doc, start=1):
            if not isinstance(item, Mapping):
                raise InputFileError(f"{uri}: record {i} is not an object ({item!r}).")
            out.append((f"record {i}", {_header(k): v for k, v in item.items()}))
        return out, "JSON"
    # strict: an unbalanced quote is an error, not a field that silently swallows the rows after it.
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    out = []
    try:
        if not reader.fieldnames:
            raise InputFileError(f"{uri}: empty file, expected a CSV header row.")
        reader.fieldnames = [_header(h) for h in reader.fieldnames]
        for row in reader:
            values = {k: v for k, v in row.items() if k is not None}
            if None in row:
                raise InputFileError(f"{uri}: line {reader.line_num} has more fields than the header.")
            if all(v is None or not str(v).strip() for v in values.values()):
                continue
            out.append((f"line {reader.line_num}", values))
    except csv.Error as exc:
        raise InputFileError(f"{uri}: not valid CSV at line {reader.line_num} ({exc}); check the quotes.") from None
    return out, "CSV"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and pd.isna(value):
        return None
    text = str(value).strip()
    return text or None


def _check_columns(uri: str, fmt: str, records: list[tuple[str, dict]], required: tuple[str, ...],
                   any_of: tuple[str, ...] = ()) -> None:
    seen = set().union(*(r.keys() for _, r in records)) if records else set()
    if fmt == "CSV" and not records:
        return
    missing = [c for c in required if c not in seen]
    if any_of and not any(c in seen for c in any_of):
        missing.append(" or ".join(any_of))
    if missing:
        raise InputFileError(f"{uri}: missing column(s) {', '.join(missing)}; found {', '.join(sorted(seen)) or 'none'}.")


def _raise_collected(uri: str, errors: list[str]) -> None:
    if errors:
        more = f" (and {len(errors) - _MAX_REPORTED} more)" if len(errors) > _MAX_REPORTED else ""
        raise InputFileError(f"{uri}: " + "; ".join(errors[:_MAX_REPORTED]) + more)


def _email(value: Any, where: str, errors: list[str]) -> str | None:
    email = _text(value)
    if email is None:
        errors.append(f"{where}: email is empty")
        return None
    email = email.lower()
    if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        errors.append(f"{where}: {email!r} is not an email address")
        return None
    return email


def load_roles(uri: str, *, read_bytes: ReadBytes | None = None) -> pd.DataFrame:
    """Roles file -> DataFrame(email, role, name, approved_by), one row per email.

    An email declared twice with different roles is an error (which one is true?); identical
    repeats are merged.
    """
    records, fmt = _records(uri, _read(uri, read_bytes), ("roles", "users", "admins"), email_mapping=True)
    _check_columns(uri, fmt, records, ("email", "role"))
    errors: list[str] = []
    rows: dict[str, tuple[str, dict[str, Any]]] = {}
    for where, rec in records:
        email = _email(rec.get("email"), where, errors)
        role = _text(rec.get("role"))
        if role is None:
            errors.append(f"{where}: role is empty")
        if email is None or role is None:
            continue
        role = role.lower()
        row = {"email": email, "role": role, "name": _text(rec.get("name")), "approved_by": _text(rec.get("approved_by"))}
        if email in rows and rows[email][1]["role"] != role:
            errors.append(f"{where}: {email} is declared as {role!r} but as {rows[email][1]['role']!r} "
                          f"on {rows[email][0]}")
            continue
        rows.setdefault(email, (where, row))
    _raise_collected(uri, errors)
    frame = pd.DataFrame([r for _, r in rows.values()], columns=["email", "role", "name", "approved_by"], dtype=object)
    return frame.astype("str").sort_values("email", kind="stable").reset_index(drop=True)


def _timestamp(value: Any, where: str, errors: list[str]) -> pd.Timestamp | None:
    text = _text(value)
    if text is None:
        return None
    # ISO 8601 only: 03/04/2026 means two different days on either side of the Atlantic.
    if not _ISO_DATE.match(text):
        errors.append(f"{where}: terminated_at {text!r} is not an ISO 8601 date (YYYY-MM-DD or "
                      "YYYY-MM-DDTHH:MM:SSZ)")
        return None
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        errors.append(f"{where}: terminated_at {text!r} is not a valid date")
        return None
    # A date without a time is taken as 00:00 UTC of that day: the SLA clock starts at the earliest
    # reading of the date, which is the one an auditor applies.
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def load_roster(uri: str, *, read_bytes: ReadBytes | None = None) -> pd.DataFrame:
    """Roster (HRIS/IdP export) -> DataFrame(email, name, status, terminated_at).

    Needs an email column and a status or terminated_at column. An empty status becomes "terminated"
    when a termination date is given, else "active". Several rows per email are kept (rehires): the
    offboarding rule decides which one is current.
    """
    records, fmt = _records(uri, _read(uri, read_bytes), ("people", "employees", "users", "roster", "workers"))
    _check_columns(uri, fmt, records, ("email",), any_of=("status", "terminated_at"))
    errors: list[str] = []
    rows = []
    for where, rec in records:
        email = _email(rec.get("email"), where, errors)
        terminated_at = _timestamp(rec.get("terminated_at"), where, errors)
        status = _text(rec.get("status"))
        status = status.lower() if status else ("terminated" if terminated_at is not None else "active")
        if email is not None:
            rows.append({"email": email, "name": _text(rec.get("name")), "status": status,
                         "terminated_at": terminated_at})
    _raise_collected(uri, errors)
    frame = pd.DataFrame(rows, columns=["email", "name", "status", "terminated_at"], dtype=object)
    out = frame[["email", "name", "status"]].astype("str")
    out["terminated_at"] = pd.to_datetime(frame["terminated_at"], utc=True).astype(UTC_DTYPE)
    return out
