"""The owner's inputs (policy, roles export, HR/IdP roster) as evidence tables of the day.

The Aircall API knows nothing of who is an admin or who has left, so AC-02/03/04 judge files the
account owner provides, and every check is judged under the owner's policy. Those inputs are sealed
into the day like any other table, so that an auditor can re-perform a check from the evidence alone
(compliance/reperform.py) and match each file with the owner's own copy by its SHA-256:

- `owner_policy`: one row per owner input (`input` = policy | roles | roster): whether it is
  configured, where it was read from, the SHA-256 and size of the file as read, the rows loaded,
  and the error that made it unusable. The policy row holds `policy_json`, the effective
  `CompliancePolicy` (the file's values, the defaults and the environment's overrides), from which
  `sealed_policy` rebuilds it exactly.
- `owner_roles` / `owner_roster`: the frames the rules read, as `load_roles` / `load_roster` return
  them; zero rows when the file is not configured or unusable (the index row says which).

A broken file does not fail the day: its error is recorded, and every check that reads it says
`error` with that text, in the pipeline and on re-performance alike (`sealed_*` raise it again).

Plain pandas; the Dagster asset that writes these tables is compliance/owner_assets.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from aircall_pipeline.compliance.rules import UTC_DTYPE
from aircall_pipeline.config.policy import (
    CompliancePolicy,
    InputFileError,
    PolicyError,
    ReadBytes,
    load_roles,
    load_roster,
    read_policy_file,
)
from aircall_pipeline.evidence.day_tables import OWNER_POLICY, OWNER_ROLES, OWNER_ROSTER

POLICY, ROLES, ROSTER = "policy", "roles", "roster"  # the values of owner_policy's `input` column
INDEX_DTYPES = {"input": "str", "configured": "boolean", "uri": "str", "sha256": "str", "bytes": "Int64",
                "rows": "Int64", "error_type": "str", "error": "str", "policy_json": "str"}
ROLES_COLUMNS = ("email", "role", "name", "approved_by")
ROSTER_COLUMNS = ("email", "name", "status", "terminated_at")
# Exceptions a recorded error is raised again as, so the check's reason reads as it did when sealed.
_RECORDED_ERRORS: dict[str, type[ValueError]] = {"PolicyError": PolicyError, "InputFileError": InputFileError}
# What loading an owner file may raise when the file is bad (the rest are bugs, and fail the step).
_BAD_FILE = (OSError, ValueError, KeyError)


def policy_json(policy: CompliancePolicy) -> str:
    """The policy as canonical JSON (sorted keys): `CompliancePolicy.from_dict(json.loads(...))`
    gives the same policy back."""
    return json.dumps(policy.to_dict(), sort_keys=True, ensure_ascii=False)


def empty_roles() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in ROLES_COLUMNS})


def empty_roster() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in ROSTER_COLUMNS[:3]})
    frame["terminated_at"] = pd.Series(dtype=UTC_DTYPE)
    return frame


@dataclass(frozen=True)
class OwnerTables:
    index: pd.DataFrame  # the owner_policy table
    roles: pd.DataFrame
    roster: pd.DataFrame

    def as_dict(self) -> dict[str, pd.DataFrame]:
        return {OWNER_POLICY: self.index, OWNER_ROLES: self.roles, OWNER_ROSTER: self.roster}

    def summary(self) -> dict[str, dict[str, Any]]:
        """input -> its index row without the policy JSON (for the UI and the logs)."""
        return {str(row["input"]): {k: _text(v) if k in ("uri", "sha256", "error_type", "error") else _scalar(v)
                                    for k, v in row.items() if k not in ("input", "policy_json")}
                for row in self.index.to_dict(orient="records")}


def _row(input_: str, configured: bool | None, uri: str | None, data: bytes | None = None, rows: int | None = None,
         error: BaseException | None = None, policy: CompliancePolicy | None = None) -> dict[str, Any]:
    return {
        "input": input_, "configured": configured, "uri": uri,
        "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
        "bytes": len(data) if data is not None else None,
        "rows": rows,
        "error_type": type(error).__name__ if error is not None else None,
        "error": str(error) if error is not None else None,
        "policy_json": policy_json(policy) if policy is not None else None,
    }


def _load_file(input_: str, uri: str | None, loader: Callable[..., pd.DataFrame], read_bytes: ReadBytes,
               empty: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    if not uri:
        return _row(input_, False, None), empty
    seen: list[bytes] = []

    def reader(u: str) -> bytes:
        seen.append(read_bytes(u))  # the bytes the loader parses are the bytes hashed
        return seen[-1]

    try:
        frame = loader(uri, read_bytes=reader)
    except _BAD_FILE as exc:
        return _row(input_, True, uri, seen[-1] if seen else None, error=exc), empty
    return _row(input_, True, uri, seen[-1], rows=len(frame)), frame.reset_index(drop=True)


def collect_owner_inputs(policy_file: str | None, *, roles_uri: str | None, roster_uri: str | None,
                         read_bytes: ReadBytes) -> OwnerTables:
    """Read the owner's files as the checks will judge them: the policy file (or the defaults), with
    `roles_uri` / `roster_uri` (the environment's) taking precedence over the file's, then the roles
    and roster files it names, read with `read_bytes(uri)` (local paths and s3://)."""
    data = None
    try:
        data = read_policy_file(policy_file) if policy_file else None
        policy = CompliancePolicy.from_bytes(data, path=policy_file) if data is not None else CompliancePolicy()
        policy = replace(policy, roles_uri=roles_uri or policy.roles_uri, roster_uri=roster_uri or policy.roster_uri)
    except (PolicyError, OSError) as exc:
        why = PolicyError(f"not read: the policy could not be loaded ({exc})")
        rows = [_row(POLICY, bool(policy_file), policy_file, data, error=exc),
                _row(ROLES, None, roles_uri, error=why), _row(ROSTER, None, roster_uri, error=why)]
        return OwnerTables(_index(rows), empty_roles(), empty_roster())
    roles_row, roles = _load_file(ROLES, policy.roles_uri, load_roles, read_bytes, empty_roles())
    roster_row, roster = _load_file(ROSTER, policy.roster_uri, load_roster, read_bytes, empty_roster())
    rows = [_row(POLICY, bool(policy_file), policy_file, data, policy=policy), roles_row, roster_row]
    return OwnerTables(_index(rows), roles, roster)


def _index(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(INDEX_DTYPES))
    return frame.astype(INDEX_DTYPES)


# ---- reading the sealed tables back ----------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _scalar(value: Any) -> Any:
    """A cell as a plain Python value (pandas' NA and numpy scalars are not JSON)."""
    if value is None or pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _index_row(index: pd.DataFrame, input_: str) -> dict[str, Any]:
    if "input" not in index.columns:
        raise InputFileError(f"the {OWNER_POLICY} table has no `input` column")
    rows = index[index["input"].astype("str") == input_]
    if len(rows) != 1:
        raise InputFileError(f"the {OWNER_POLICY} table has {len(rows)} rows for {input_!r}, expected one")
    return rows.iloc[0].to_dict()


def _raise_recorded(row: dict[str, Any]) -> None:
    error = _text(row.get("error"))
    if error is None:
        return
    kind = _text(row.get("error_type")) or "InputFileError"
    cls = _RECORDED_ERRORS.get(kind)
    raise cls(error) if cls is not None else InputFileError(f"{kind}: {error}")


def sealed_policy(index: pd.DataFrame) -> CompliancePolicy:
    """The policy the checks were judged under; raises the recorded error when it was unusable."""
    row = _index_row(index, POLICY)
    _raise_recorded(row)
    text = _text(row.get("policy_json"))
    if text is None:
        raise PolicyError(f"the {OWNER_POLICY} table holds no policy_json")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PolicyError(f"the {OWNER_POLICY} table's policy_json is not JSON: {exc}") from None
    return CompliancePolicy.from_dict(data, source=f"the sealed {OWNER_POLICY}")


def _sealed_frame(index: pd.DataFrame, input_: str, frame: pd.DataFrame) -> pd.DataFrame | None:
    row = _index_row(index, input_)
    _raise_recorded(row)
    configured = row.get("configured")
    if configured is None or pd.isna(configured) or not bool(configured):
        return None  # not configured: the rule skips and says so
    return frame


def sealed_roles(index: pd.DataFrame, roles: pd.DataFrame) -> pd.DataFrame | None:
    """The roles the checks read: None when no roles file is configured; raises the recorded error."""
    return _sealed_frame(index, ROLES, roles)


def sealed_roster(index: pd.DataFrame, roster: pd.DataFrame) -> pd.DataFrame | None:
    """The roster the checks read: None when none is configured; raises the recorded error."""
    return _sealed_frame(index, ROSTER, roster)
