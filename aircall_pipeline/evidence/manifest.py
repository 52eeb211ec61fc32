"""The day's manifest and its verification.

`manifest.json` is the index an auditor starts from: it names every file that is the day's evidence
with its SHA-256, size and row count, records how and when the data was collected, summarises the
checks, links to the previous day's manifest by hash (altering or deleting an older day breaks the
chain at the next one) and to this day's previous attempt (a rerun cannot silently replace what was
sealed), and hashes every other file present in the day's folders when it was sealed. Its detached
signature (`signing.py`) is what makes all of that authentic.

Plain data and pure functions only; reading and writing storage is `store.EvidenceStore`'s job,
checking it is `verify.py`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aircall_pipeline.jsonable import to_jsonable
from aircall_pipeline.redaction import redact_url
from aircall_pipeline.timestamps import iso_utc

# 2: attempt chain, other_files, signing, sealed_at; 3: rejected, timezone, signed first;
# 4: the owner inputs (policy, roles, roster) sealed as tables, which verify then requires.
MANIFEST_VERSION = 4
CHECK_STATUSES = ("pass", "fail", "warn", "skip", "error")
# The keys of `manifest_fields` that `write_report` requires, and the ones it accepts besides: a
# manifest holds nothing that its schema (`schemas.DailyManifest`) does not declare, so that `verify`
# can refuse anything else.
REQUIRED_MANIFEST_FIELDS = ("run_id", "api_url", "company", "requests", "collected_at")
OPTIONAL_MANIFEST_FIELDS = ("timezone",)  # the partitions' IANA timezone: when the day ended
COMPUTED_MANIFEST_FIELDS = (
    "manifest_version",
    "date",
    "package_version",
    "artifacts",
    "checks",
    "previous_manifest",
    "attempt",
    "previous_attempt",
    "reason",
    "other_files",
    "signing",
    "sealed_at",
    "rejected",
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


def json_bytes(value: Any) -> bytes:
    """Canonical JSON: sorted keys, two-space indent, UTF-8, trailing newline; same input, same bytes."""
    text = json.dumps(to_jsonable(value), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


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
    # Objects the sealing found in the evidence that do not verify, and that no earlier attempt had
    # recorded: what the tamper alert names (set by `write_report` only).
    new_rejections: list[dict[str, Any]] = field(default_factory=list)
    # Newer attempts of the day that `read_manifest` refused (malformed, unsigned, forged), newest first:
    # a reader that must act on the newest sealed state refuses while this is not empty.
    ignored: list[dict[str, Any]] = field(default_factory=list, compare=False)

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
    previous: dict[str, Any] | None,
    previous_attempt: dict[str, Any] | None = None,
    reason: dict[str, Any] | None = None,
    other_files: list[dict[str, Any]] | None = None,
    signing: dict[str, Any] | None = None,
    sealed_at: datetime | None = None,
    rejected: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest's content. `previous` links the previous sealed day's newest attempt (day chain);
    `previous_attempt` links this day's previous sealed attempt (attempt chain); `other_files` hashes
    every other file present in the day's folders when sealing; `signing` says how it is signed."""
    missing = [k for k in REQUIRED_MANIFEST_FIELDS if k not in manifest_fields]
    if missing:
        raise ValueError(f"manifest_fields lacks {', '.join(missing)}")
    clashing = [k for k in manifest_fields if k in COMPUTED_MANIFEST_FIELDS]
    if clashing:
        raise ValueError(f"manifest_fields may not set {', '.join(clashing)}: the store computes them")
    unknown = [k for k in manifest_fields if k not in REQUIRED_MANIFEST_FIELDS + OPTIONAL_MANIFEST_FIELDS]
    if unknown:
        raise ValueError(f"manifest_fields has {', '.join(sorted(unknown))}, which a manifest does not hold "
                         f"(it holds {', '.join(REQUIRED_MANIFEST_FIELDS + OPTIONAL_MANIFEST_FIELDS)})")
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
        previous_manifest=previous,
        previous_attempt=previous_attempt,
        reason=reason or {},
        other_files=list(other_files or []),
        rejected=list(rejected or []),
        signing=signing or {"status": "unsigned"},
        sealed_at=iso_utc(sealed_at or datetime.now(UTC)),
    )
    return to_jsonable(data)


def strip_userinfo(url: str) -> str:
    """Drop `user:password@` from a URL: a manifest must never carry a credential."""
    return redact_url(url, query="keep", fragment=True)
