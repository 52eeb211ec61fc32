"""The day's manifest and its verification.

`manifest.json` is the index an auditor starts from: it names every file that is the day's evidence
with its SHA-256, size and row count, records how and when the data was collected, summarises the
checks, and links to the previous day's manifest by hash, so that altering or deleting an older day
breaks the chain at the next one.

Plain data and pure functions only; reading and writing storage is `store.EvidenceStore`'s job.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

MANIFEST_VERSION = 1
CHECK_STATUSES = ("pass", "fail", "warn", "skip", "error")
# The keys of `manifest_fields` that `write_report` requires; any other key is copied into the
# manifest as is (for example query parameters or call-window counts), unless it would replace one
# of the fields the store computes itself.
REQUIRED_MANIFEST_FIELDS = ("run_id", "api_url", "company", "requests", "collected_at")
COMPUTED_MANIFEST_FIELDS = (
    "manifest_version",
    "date",
    "package_version",
    "artifacts",
    "checks",
    "previous_manifest",
    "attempt",
)


@dataclass(frozen=True)
class Artifact:
    """One stored file: `path` is relative to the evidence root (always `/`-separated).

    `rows` is the number of data rows (Parquet/CSV), the number of checks (checks.json), or None
    where rows mean nothing (report.html, manifest.json).
    """

    path: str
    sha256: str
    bytes: int
    rows: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes, "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        rows = data.get("rows")
        return cls(
            path=str(data["path"]),
            sha256=str(data["sha256"]),
            bytes=int(data["bytes"]),
            rows=None if rows is None else int(rows),
        )


def to_jsonable(value: Any) -> Any:
    """Turn what checks and pandas hand us into strict JSON values.

    NaN/inf become null (JSON has no NaN), numpy scalars become Python numbers, timestamps become
    ISO-8601 UTC strings, sets are sorted, anything else unknown becomes its `str`.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return to_jsonable(float(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((to_jsonable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    # numpy / pandas scalars without importing them here.
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return to_jsonable(item())
        except (TypeError, ValueError):
            pass
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        try:
            return to_jsonable(value.to_pydatetime()) if hasattr(value, "to_pydatetime") else isoformat()
        except (TypeError, ValueError):
            pass
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def json_bytes(value: Any) -> bytes:
    """Canonical JSON: sorted keys, two-space indent, UTF-8, trailing newline; same input, same bytes."""
    text = json.dumps(to_jsonable(value), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def iso_utc(value: datetime | str) -> str:
    """ISO-8601 in UTC with a `Z`; naive datetimes are taken to be UTC already."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def normalise_check(check: dict[str, Any]) -> dict[str, Any]:
    """Validate one check dict for checks.json; raises ValueError naming what is wrong."""
    if not isinstance(check, dict):
        raise ValueError(f"a check must be a dict, got {type(check).__name__}")
    missing = [k for k in ("id", "status") if k not in check]
    if missing:
        raise ValueError(f"check {check.get('id', '?')!r} lacks {', '.join(missing)}")
    if check["status"] not in CHECK_STATUSES:
        raise ValueError(
            f"check {check['id']!r} has status {check['status']!r}; use one of {', '.join(CHECK_STATUSES)}"
        )
    out = {
        "id": str(check["id"]),
        "name": check.get("name"),
        "status": check["status"],
        "observed": check.get("observed"),
        "threshold": check.get("threshold"),
        "controls": list(check.get("controls") or []),
        "reason": check.get("reason"),
        "items": list(check.get("items") or []),
    }
    for key, value in check.items():
        out.setdefault(key, value)
    return to_jsonable(out)


def check_summary(check: dict[str, Any]) -> dict[str, Any]:
    return {k: check.get(k) for k in ("id", "status", "observed", "threshold", "controls")}


@dataclass(frozen=True)
class Manifest:
    """A day's manifest as stored. `path` (root-relative), `uri` (absolute) and `sha256` describe the
    manifest file itself; `data` is its parsed content."""

    data: dict[str, Any]
    path: str
    sha256: str
    uri: str = ""
    bytes: int = 0

    @property
    def attempt(self) -> int:
        return int(self.data.get("attempt", 1))

    @property
    def date(self) -> str:
        return self.data["date"]

    @property
    def artifacts(self) -> list[Artifact]:
        return [Artifact.from_dict(a) for a in self.data.get("artifacts", [])]

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.data.get("checks", []))

    @property
    def previous_manifest(self) -> dict[str, Any] | None:
        return self.data.get("previous_manifest")

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def build_manifest_data(
    *,
    date: str,
    attempt: int,
    package_version: str,
    manifest_fields: dict[str, Any],
    artifacts: list[Artifact],
    checks: list[dict[str, Any]],
    previous: Artifact | None,
    previous_date: str | None,
) -> dict[str, Any]:
    missing = [k for k in REQUIRED_MANIFEST_FIELDS if k not in manifest_fields]
    if missing:
        raise ValueError(f"manifest_fields lacks {', '.join(missing)}")
    clashing = [k for k in manifest_fields if k in COMPUTED_MANIFEST_FIELDS]
    if clashing:
        raise ValueError(f"manifest_fields may not set {', '.join(clashing)}: the store computes them")
    data: dict[str, Any] = dict(manifest_fields)
    data.update(
        manifest_version=MANIFEST_VERSION,
        date=date,
        attempt=attempt,
        collected_at=iso_utc(manifest_fields["collected_at"]),
        package_version=package_version,
        api_url=strip_userinfo(str(manifest_fields["api_url"])),
        artifacts=[a.as_dict() for a in artifacts],
        checks=[check_summary(c) for c in checks],
        previous_manifest=(
            None
            if previous is None
            else {
                "path": previous.path,
                "sha256": previous.sha256,
                "bytes": previous.bytes,
                "date": previous_date,
            }
        ),
    )
    return to_jsonable(data)


def strip_userinfo(url: str) -> str:
    """Drop `user:password@` from a URL: a manifest must never carry a credential."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


FILE_OK, FILE_ALTERED, FILE_MISSING = "ok", "ALTERED", "MISSING"


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one file the manifest lists."""

    path: str
    status: str  # ok | ALTERED | MISSING
    expected: Artifact
    actual_sha256: str | None = None
    actual_bytes: int | None = None
    actual_rows: int | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == FILE_OK


@dataclass
class Verification:
    """What `EvidenceStore.verify(date)` found. `ok` only when the day is complete and untampered."""

    date: str
    uri: str
    manifest_path: str | None = None
    manifest_sha256: str | None = None
    files: list[FileCheck] = field(default_factory=list)
    previous: str = ""  # one line about the previous-manifest link
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.manifest_path is not None and not self.problems and all(f.ok for f in self.files)

    def lines(self) -> list[str]:
        out = [f"evidence: {self.uri}", f"date:     {self.date}"]
        if self.manifest_path:
            out.append(f"manifest: {self.manifest_path} (sha256 {self.manifest_sha256})")
        for f in self.files:
            line = f"{f.status:<8} {f.path}"
            if f.ok:
                rows = "" if f.expected.rows is None else f", {f.expected.rows} rows"
                line += f"  ({f.expected.bytes} bytes{rows}, sha256 {f.expected.sha256[:16]}…)"
            elif f.detail:
                line += f"  ({f.detail})"
            out.append(line)
        if self.previous:
            out.append(f"previous: {self.previous}")
        out.extend(f"problem:  {p}" for p in self.problems)
        out.extend(f"note:     {n}" for n in self.notes)
        out.append(f"verdict:  {self.verdict()}")
        return out

    def verdict(self) -> str:
        if self.ok:
            return f"COMPLETE AND UNTAMPERED ({len(self.files)} files match the manifest)"
        bad = sum(1 for f in self.files if not f.ok)
        return f"NOT VERIFIED ({bad} file(s) altered or missing, {len(self.problems)} problem(s))"

    def summary(self) -> str:
        return "\n".join(self.lines())
