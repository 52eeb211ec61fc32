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
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import pandas as pd
import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)
from pydantic import dataclasses as pydantic_dataclasses
from pydantic_core import PydanticCustomError

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


@dataclasses.dataclass(frozen=True)
class AccountException:
    """A documented exception for one account (AC-04 unmatched, AC-05 shared): who owns it and why."""

    owner: str
    reason: str


# -- the rules pydantic applies to each value ------------------------------------------------------
# A rule that needs its own words raises `_problem(text)`; `_policy_error` puts `{source}: ` before it.


def _problem(text: str) -> PydanticCustomError:
    return PydanticCustomError("policy", "{text}", {"text": text})


def _list_of_strings(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _problem(f"{info.field_name} must be a list of strings, got {value!r}.")
    if not all(isinstance(v, str) for v in value):
        raise _problem(f"{info.field_name}={tuple(value)!r} must be a list of non-empty strings.")
    return tuple(value)


def _non_empty_strings(norm: Callable[[str], str]) -> Callable[[tuple[str, ...], ValidationInfo], tuple[str, ...]]:
    def check(value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not all(v.strip() for v in value):
            raise _problem(f"{info.field_name}={value!r} must be a list of non-empty strings.")
        return tuple(norm(v) for v in value)
    return check


def _lower(value: str) -> str:
    return value.strip().lower()


Names = Annotated[tuple[str, ...], BeforeValidator(_list_of_strings), AfterValidator(_non_empty_strings(_lower))]
# Roster statuses, spelt as the built-in vocabularies are (catalogue.status_key).
Statuses = Annotated[tuple[str, ...], BeforeValidator(_list_of_strings), AfterValidator(_non_empty_strings(status_key))]


def _at_least_min_admins(value: int, info: ValidationInfo) -> int:
    # The one rule between two fields; min_admins is declared (so validated) first.
    least = info.data.get("min_admins", 0)
    if value < max(least, 1):
        raise _problem(f"max_admins={value!r} must be at least 1 and at least min_admins ({least}).")
    return value


def _path_or_uri(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise _problem(f"{info.field_name}={value!r} must be a non-empty string (a path or URI) or absent.")
    return value


def _recording_policy(value: Any) -> Any:
    if value not in RECORDING_POLICIES:
        raise _problem(f"recording_policy={value!r} must be one of {', '.join(RECORDING_POLICIES)}.")
    return value


def _webhook_domains(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _problem(f"{info.field_name} must be a list of domains, got {value!r}.")
    normalised = []
    for entry in value:
        try:
            normalised.append(approved_domain(entry))
        except ValueError as exc:
            raise _problem(f"{info.field_name}={tuple(value)!r} has an entry {entry!r} that {exc}.") from None
    return tuple(dict.fromkeys(normalised))


def _exceptions(value: Any) -> Any:
    """{email: {owner, reason}} or [{email, owner, reason}, ...] -> {email (lower-cased): AccountException}."""
    if value is None:
        return {}
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value, start=1):
            if not isinstance(item, Mapping) or "email" not in item:
                raise _problem(f"exceptions item {i} must be {{email, owner, reason}}.")
            rest = {k: v for k, v in item.items() if k != "email"}
            out[str(item["email"]).strip().lower()] = _exception_entry(item["email"], rest)
        return out
    if isinstance(value, Mapping):
        return {str(k).strip().lower(): _exception_entry(k, v) for k, v in value.items()}
    raise _problem(f"exceptions must map emails to {{owner, reason}}, got {type(value).__name__}.")


def _exception_entry(email: Any, entry: Any) -> AccountException:
    where = f"exceptions[{email!r}]"
    if not isinstance(email, str) or "@" not in email:
        raise _problem(f"{where}: the key must be an email address.")
    if isinstance(entry, AccountException):
        return entry
    if not isinstance(entry, Mapping):
        raise _problem(f"{where}: must be {{owner: ..., reason: ...}}, got {entry!r}.")
    unknown = sorted(set(entry) - {"owner", "reason"})
    if unknown:
        raise _problem(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: owner, reason.")
    owner, reason = entry.get("owner"), entry.get("reason")
    for name, text in (("owner", owner), ("reason", reason)):
        if not isinstance(text, str) or not text.strip():
            raise _problem(f"{where}: {name} is required (a documented exception names who owns it and why).")
    return AccountException(owner=owner.strip(), reason=reason.strip())


def _read_only(value: Mapping[str, AccountException]) -> Mapping[str, AccountException]:
    return MappingProxyType(dict(value))


# The words for pydantic's own errors (a wrong type, a bound crossed), by key: (wrong type, out of range).
_WHOLE = "must be a whole number."
_NUMBER = "must be a number."
_WORDS = {
    "roles_uri": ("must be a non-empty string (a path or URI) or absent.",) * 2,
    "roster_uri": ("must be a non-empty string (a path or URI) or absent.",) * 2,
    "min_admins": (_WHOLE, "must be at least 0."),
    "max_admins": (_WHOLE, _WHOLE),
    "recording_policy": (f"must be one of {', '.join(RECORDING_POLICIES)}.",) * 2,
    "dormant_days": (_WHOLE, "must be at least 1."),
    "access_review_max_age_days": (_WHOLE, "must be at least 1."),
    "offboarding_sla_hours": (_NUMBER, "must be 0 or more."),
    "recording_min_share": (_NUMBER, "must be between 0 and 1 (a share, e.g. 0.95)."),
    "freshness_max_age_hours": (_NUMBER, "must be more than 0."),
    "max_webhooks": ("must be a whole number, 0 or more.",) * 2,
    "privileged_roles": ("must be a list of non-empty strings.", "must name at least one role."),
    "exceptions": ("must map emails to {owner, reason}.",) * 2,
}
_RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_short")
_UNKNOWN_KEY = ("unexpected_keyword_argument", "extra_forbidden")


def _policy_error(exc: ValidationError, source: str, known: list[str]) -> PolicyError:
    """The first of pydantic's errors in today's words: `{source}: key=value what is wrong`."""
    errors = exc.errors(include_url=False)
    unknown = sorted({str(e["loc"][0]) for e in errors if e["type"] in _UNKNOWN_KEY and e["loc"]})
    if unknown:  # a typo first: it is why the intended key seems to keep its default
        return PolicyError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed keys are {', '.join(known)}.")
    error = errors[0]
    if error["type"] == "policy":
        return PolicyError(f"{source}: {error['ctx']['text']}")
    key, value = str(error["loc"][0]) if error["loc"] else "policy", error["input"]
    if isinstance(value, list):
        value = tuple(value)
    if error["type"] == "finite_number":  # YAML's .nan and .inf are floats, and compare false with everything
        why = "must be a finite number."
    elif key in _WORDS:
        wrong_type, out_of_range = _WORDS[key]
        in_range = error["type"] not in _RANGE_ERRORS
        why = wrong_type if in_range else out_of_range
        if not in_range and _WORDS[key][0] == _NUMBER:
            value = float(value)  # the number as the policy holds it: 95 is 95.0
    else:
        why = "is not valid."
    return PolicyError(f"{source}: {key}={value!r} {why}")


def _raising_policy_errors(cls: type) -> type:
    """Construction (and `dataclasses.replace`) raises PolicyError, not pydantic's ValidationError."""
    validated_init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            validated_init(self, *args, **kwargs)
        except ValidationError as exc:
            raise _policy_error(exc, "policy", [f.name for f in dataclasses.fields(cls)]) from None

    __init__.__doc__ = validated_init.__doc__
    cls.__init__ = __init__  # type: ignore[misc]
    return cls


@_raising_policy_errors
@pydantic_dataclasses.dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid", allow_inf_nan=False))
class CompliancePolicy:
    roles_uri: Annotated[str, AfterValidator(_path_or_uri)] | None = None
    roster_uri: Annotated[str, AfterValidator(_path_or_uri)] | None = None
    min_admins: Annotated[int, Field(ge=0)] = 2
    max_admins: Annotated[int, AfterValidator(_at_least_min_admins)] = 5
    privileged_roles: Annotated[Names, Field(min_length=1)] = DEFAULT_PRIVILEGED_ROLES
    offboarding_sla_hours: Annotated[float, Field(ge=0)] = 24.0
    dormant_days: Annotated[int, Field(ge=1)] = 90
    shared_patterns: Names = DEFAULT_SHARED_PATTERNS
    recording_policy: Annotated[str, BeforeValidator(_recording_policy)] = "report"
    recording_min_share: Annotated[float, Field(ge=0, le=1)] = 1.0
    freshness_max_age_hours: Annotated[float, Field(gt=0)] = 30.0
    # AC-16: PCI DSS 7.2.4 asks for at least every six months; quarterly is what SOC 2 auditors sample.
    access_review_max_age_days: Annotated[int, Field(ge=1)] = 90
    # Roster statuses of this organisation beyond the built-in vocabularies (catalogue.py).
    active_statuses: Statuses = ()
    terminated_statuses: Statuses = ()
    suspended_statuses: Statuses = ()
    # AC-11. None: no allow-list, the check skips; an empty list approves no destination at all.
    approved_webhook_domains: Annotated[tuple[str, ...] | None, BeforeValidator(_webhook_domains)] = None
    max_webhooks: Annotated[int, Field(ge=0)] = DEFAULT_MAX_WEBHOOKS
    # email (lower-cased) -> AccountException; read-only.
    exceptions: Annotated[Mapping[str, AccountException], BeforeValidator(_exceptions), AfterValidator(_read_only)] = (
        dataclasses.field(default_factory=lambda: MappingProxyType({})))

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "policy") -> CompliancePolicy:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise PolicyError(f"{source}: the policy must be a mapping of keys to values, got {type(data).__name__}.")
        try:
            return cls(**{str(key): value for key, value in data.items()})
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
