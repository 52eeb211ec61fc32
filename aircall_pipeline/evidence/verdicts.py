"""What `verify` concludes, as data: the verdict on each file and attempt of a day, on the day, and
on a range of days, with their printed and JSON forms (every value from the evidence escaped by `shown`)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from aircall_pipeline.evidence.manifest import Artifact

FILE_OK, FILE_ALTERED, FILE_MISSING, FILE_DELETED, FILE_UNLISTED = "ok", "ALTERED", "MISSING", "DELETED", "UNLISTED"
SIG_VALID, SIG_UNSIGNED, SIG_UNCHECKED = "valid", "UNSIGNED", "not checked"


def shown(value: Any) -> str:
    """A value from the evidence as it may be printed: every control, format or separator character
    escaped, so that no manifest can move the cursor, clear the screen or paint a fake verdict."""
    out = []
    for ch in str(value):
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one object of the day."""

    path: str
    status: str  # ok | ALTERED | MISSING | DELETED | UNLISTED
    expected: Artifact | None = None
    detail: str = ""
    lock: str = ""

    @property
    def ok(self) -> bool:
        return self.status == FILE_OK


@dataclass(frozen=True)
class AttemptCheck:
    attempt: int
    path: str
    sha256: str
    signature: str  # valid | FORGED (…) | MALFORMED | UNSIGNED | not checked
    key_fingerprint: str = ""
    sealed_at: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Reseal:
    """One re-seal of a day: why, and what it changed against the attempt before it."""

    attempt: int
    reason: str
    changed_tables: tuple[str, ...]
    changed_checks: tuple[tuple[str, str, str], ...]  # (check id, before, after)

    def text(self) -> str:
        changes = [f"{cid} {before} → {after}" for cid, before, after in self.changed_checks]
        if self.changed_tables:
            changes.insert(0, "tables changed: " + ", ".join(self.changed_tables))
        return f"attempt {self.attempt} ({self.reason}): " + ("; ".join(changes) or "nothing changed")


@dataclass
class DayVerification:
    date: str
    uri: str
    trusted_key: str | None = None  # the fingerprint checked against, if any
    manifest_path: str | None = None  # the newest genuine attempt: the day's evidence
    manifest_sha256: str | None = None
    attempts: list[AttemptCheck] = field(default_factory=list)
    files: list[FileCheck] = field(default_factory=list)
    reseals: list[Reseal] = field(default_factory=list)
    previous: str = ""
    time: str = ""  # what attests when the day was sealed
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Complete and consistent: hashes, listings and chains (signatures are `authenticated`)."""
        return self.manifest_path is not None and not self.problems and all(f.ok for f in self.files)

    @property
    def authenticated(self) -> bool:
        return self.ok and self.trusted_key is not None

    def verdict(self) -> str:
        if self.authenticated:
            return (
                f"VALID: complete and untampered, {len(self.files)} files, {len(self.attempts)} attempt(s) "
                f"signed by the trusted key {self.trusted_key}"
            )
        if self.ok:
            return (
                f"CONSISTENT, AUTHENTICITY NOT CHECKED: {len(self.files)} files match the manifests and the "
                "chains hold, but no trusted public key was given (--public-key, --kms-key-id or "
                "EVIDENCE_PUBLIC_KEY), so anyone able to write the evidence could have made them"
            )
        bad = sum(1 for f in self.files if not f.ok)
        return f"NOT VERIFIED: {bad} file(s) altered, missing or unlisted; {len(self.problems)} problem(s)"

    def lines(self) -> list[str]:
        out = [f"evidence: {self.uri}", f"date:     {self.date}"]
        if self.trusted_key:
            out.append(f"trusted:  {self.trusted_key}")
        for a in self.attempts:
            fp = f" by {a.key_fingerprint}" if a.key_fingerprint else ""
            out.append(
                f"attempt:  {a.attempt} {a.path} (sha256 {a.sha256[:16]}…, sealed {a.sealed_at or '?'}; "
                f"signature {a.signature}{fp}){' — ' + a.reason if a.reason else ''}"
            )
        out.extend(f"re-seal:  {r.text()}" for r in self.reseals)
        for f in self.files:
            line = f"{f.status:<8} {f.path}"
            if f.ok and f.expected is not None:
                rows = "" if f.expected.rows is None else f", {f.expected.rows} rows"
                line += f"  ({f.expected.bytes} bytes{rows}, sha256 {f.expected.sha256[:16]}…; {f.lock})"
            elif f.detail:
                line += f"  ({f.detail})"
            out.append(line)
        if self.previous:
            out.append(f"previous: {self.previous}")
        if self.time:
            out.append(f"time:     {self.time}")
        out.extend(f"problem:  {p}" for p in self.problems)
        out.extend(f"note:     {n}" for n in self.notes)
        out.append(f"verdict:  {self.verdict()}")
        return [shown(line) for line in out]

    def summary(self) -> str:
        return "\n".join(self.lines())

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "evidence": self.uri,
            "valid": self.authenticated,
            "consistent": self.ok,
            "authenticity_checked": self.trusted_key is not None,
            "trusted_key": self.trusted_key,
            "manifest": self.manifest_path,
            "manifest_sha256": self.manifest_sha256,
            "attempts": [a.__dict__ for a in self.attempts],
            "reseals": [{"attempt": r.attempt, "reason": r.reason, "changed_tables": list(r.changed_tables),
                         "changed_checks": [{"id": c, "before": b, "after": a} for c, b, a in r.changed_checks]}
                        for r in self.reseals],
            "files": [
                {"path": f.path, "status": f.status, "detail": f.detail, "lock": f.lock,
                 "sha256": f.expected.sha256 if f.expected else None}
                for f in self.files
            ],
            "previous": self.previous,
            "time": self.time,
            "problems": self.problems,
            "notes": self.notes,
            "verdict": self.verdict(),
        }


@dataclass
class RangeVerification:
    days: list[DayVerification]
    stray: list[str] = field(default_factory=list)  # objects under the root that belong to no day

    @property
    def authenticated(self) -> bool:
        return bool(self.days) and not self.stray and all(d.authenticated for d in self.days)

    @property
    def ok(self) -> bool:
        return bool(self.days) and not self.stray and all(d.ok for d in self.days)
