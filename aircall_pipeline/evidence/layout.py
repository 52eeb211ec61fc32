"""Names in the evidence layout: folders, table names, dates, and attempt file names.

The layout itself (`<root>/aircall/<table>/date=<YYYY-MM-DD>/...`, attempts, reports) is described in
the docstring of `store.py`. Everything here is pure string handling; keys are `/`-separated and
relative to the evidence root.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date as date_cls
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aircall_pipeline.evidence.errors import EvidenceStoreError
from aircall_pipeline.redaction import redact_url

ROOT = "aircall"
REPORTS = "reports"
REVIEWS = "reviews"  # access reviews (AC-16): their own signed manifests, one folder per reviewed day
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# ASCII digits only: `\d` would also match other scripts' digits (`date=2026-11-2٩`).
DATE_FOLDER = re.compile(r"^date=([0-9]{4}-[0-9]{2}-[0-9]{2})$", re.ASCII)
# A stem may hold single inner hyphens (`assessment-results`, OSCAL's own file name); it never holds a
# dot, so `.attempt-N` is always the attempt and never part of the stem.
ATTEMPT_FILE = re.compile(
    r"^(?P<stem>[a-z][a-z0-9_]*(?:-[a-z0-9_]+)*)(?:\.attempt-(?P<n>[1-9][0-9]{0,5}))?\.(?P<ext>[a-z]+)$", re.ASCII)
REPORT_BASES = ("checks.json", "report.html", "manifest.json")
# What platforms take in, sealed beside report.html from manifest version 4 on: the report as PDF, the
# checks as OSCAL Assessment Results, and one flat record per check (compliance/oscal, records.py).
INTAKE_REPORT_BASES = ("report.pdf", "assessment-results.json", "records.jsonl")
# Every base name a report attempt lists in its own folder (the manifest and its seal files list nothing).
LISTED_REPORT_BASES = ("checks.json", "report.html", *INTAKE_REPORT_BASES)
REVIEW_BASES = ("review.parquet", "review.csv", "attestation.json", "manifest.json")
# What one sealed report attempt writes, in order: the signature and timestamp come before the manifest
# they cover, so that no manifest written by the pipeline is ever without them.
SEALED_REPORT_BASES = (*LISTED_REPORT_BASES, "manifest.sig", "manifest.tsr", "manifest.json")
SEALED_REVIEW_BASES = ("review.parquet", "review.csv", "attestation.json", "attestation.sig", "manifest.sig",
                       "manifest.tsr", "manifest.json")
# The detached signature of a manifest attempt: `manifest.sig`, `manifest.attempt-2.sig`, ...
SIGNATURE_BASE = "manifest.sig"


def attempt_name(stem: str, ext: str, attempt: int) -> str:
    """`users.parquet` for attempt 1, `users.attempt-2.parquet` for attempt 2, and so on."""
    if attempt < 1:
        raise ValueError("attempts start at 1")
    return f"{stem}.{ext}" if attempt == 1 else f"{stem}.attempt-{attempt}.{ext}"


def parse_attempt_name(name: str) -> tuple[str, int, str] | None:
    """(stem, attempt, extension) of a name the store writes, or None. Only the canonical spelling
    counts: `users.attempt-1.csv` is not attempt 1 (that is `users.csv`), so two names can never claim
    the same attempt."""
    match = ATTEMPT_FILE.fullmatch(name)
    if not match:
        return None
    number = int(match["n"] or 1)
    if number == 1 and match["n"]:
        return None
    return match["stem"], number, match["ext"]


def check_date(value: Any) -> str:
    """Evidence dates are `YYYY-MM-DD` strings (Dagster daily partition keys); dates are accepted too."""
    if isinstance(value, date_cls):
        return value.isoformat()
    text = str(value)
    try:
        if len(text) == 10 and date_cls.fromisoformat(text).isoformat() == text:
            return text
    except ValueError:
        pass
    raise EvidenceStoreError(
        f"evidence date {text!r} is not a YYYY-MM-DD day; evidence is filed per day "
        "(use a daily partition key such as 2026-01-31)",
        kind="invalid_input",
    )


def check_table(name: str) -> str:
    if not isinstance(name, str) or not TABLE_NAME.match(name) or name in (REPORTS, REVIEWS):
        raise EvidenceStoreError(
            f"table name {name!r} is not usable in the evidence layout: use lowercase letters, digits "
            f"and underscores, starting with a letter (and not {REPORTS!r})",
            kind="invalid_input",
        )
    return name


def table_folder(table: str, date: str) -> str:
    return f"{ROOT}/{table}/date={date}"


def reports_folder(date: str) -> str:
    return f"{ROOT}/{REPORTS}/date={date}"


def reviews_folder(date: str) -> str:
    return f"{ROOT}/{REVIEWS}/date={date}"


def day_of_folder(name: str) -> str | None:
    """`date=2026-01-31` -> "2026-01-31"; None unless it names a real day in ASCII digits."""
    match = DATE_FOLDER.fullmatch(name)
    if not match:
        return None
    try:
        date_cls.fromisoformat(match[1])
    except ValueError:
        return None
    return match[1]


def _day_parts(key: str) -> tuple[str, str, str] | None:
    """(folder, day, rest) of a root-relative key `aircall/<folder>/date=D/<rest>`, or None: the one
    place a key's day folder is parsed (`date_of_key` and `day_entry` are views of it)."""
    parts = key.split("/", 3)
    if len(parts) == 4 and parts[0] == ROOT and (day := day_of_folder(parts[2])):
        return parts[1], day, parts[3]
    return None


def date_of_key(key: str) -> str | None:
    """The evidence date of a root-relative key `aircall/<folder>/date=D/...` at any depth below the
    day's folder (so a file hidden in a sub-folder of a day still belongs to that day), or None."""
    parts = _day_parts(key)
    return parts[1] if parts else None


def day_entry(key: str, folder: str) -> tuple[str, str] | None:
    """(day, file name) of a key directly in one of `folder`'s day folders
    (`aircall/<folder>/date=D/<name>`), or None: another folder, a deeper key, or no real day."""
    parts = _day_parts(key)
    if parts is None or parts[0] != folder or "/" in parts[2]:
        return None
    return parts[1], parts[2]


def signature_path(manifest_path: str) -> str:
    """`.../manifest.attempt-2.json` -> `.../manifest.attempt-2.sig`."""
    return manifest_path[: -len(".json")] + ".sig"


def token_path(manifest_path: str) -> str:
    """`.../manifest.attempt-2.json` -> `.../manifest.attempt-2.tsr`: its RFC 3161 timestamp response."""
    return manifest_path[: -len(".json")] + ".tsr"


def safe_relpath(path: str) -> str:
    """A `/`-separated path inside the evidence root (refuses `..`, absolute paths, backslashes)."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise EvidenceStoreError(f"{path!r} is not a path inside the evidence root", kind="invalid_input")
    return path


# --------------------------------------------------------------------------------------------------
# Where the evidence root is: EVIDENCE_URI

S3_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class EvidenceLocation:
    """What EVIDENCE_URI names: an S3 bucket and key prefix, or a local folder (exactly one)."""

    bucket: str | None = None
    prefix: str = ""
    folder: Path | None = None

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None


def parse_evidence_uri(uri: str | os.PathLike[str] | None) -> EvidenceLocation:
    """`s3://bucket[/prefix]`, `file:///abs/path`, or a local folder (relative paths are resolved
    against the current directory). Raises EvidenceStoreError(kind="invalid_uri") naming what is
    wrong; credentials in the URI are never echoed."""
    text = os.fspath(uri).strip() if uri is not None else ""
    if not text:
        raise EvidenceStoreError(
            "EVIDENCE_URI is empty: set it to s3://bucket/prefix or a local folder", kind="invalid_uri"
        )
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "s3":
        bucket = parts.netloc
        if not bucket or "@" in bucket or not S3_BUCKET_NAME.fullmatch(bucket):
            raise EvidenceStoreError(
                f"EVIDENCE_URI {redact_uri(text)!r} does not name a valid S3 bucket: use "
                "s3://bucket-name/optional/prefix (3-63 lowercase letters, digits, dots, hyphens)",
                kind="invalid_uri",
            )
        if parts.query or parts.fragment:
            raise EvidenceStoreError(
                f"EVIDENCE_URI {redact_uri(text)!r} has a query or fragment; use s3://bucket/prefix",
                kind="invalid_uri",
            )
        prefix = parts.path.strip("/")
        if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
            raise EvidenceStoreError(
                f"EVIDENCE_URI prefix {prefix!r} has empty, '.' or '..' segments", kind="invalid_uri"
            )
        return EvidenceLocation(bucket=bucket, prefix=prefix)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise EvidenceStoreError(
                f"EVIDENCE_URI {text!r}: file:// URIs must be local (file:///absolute/path)",
                kind="invalid_uri",
            )
        return EvidenceLocation(folder=Path(parts.path).resolve())
    if len(scheme) > 1:  # a one-letter "scheme" is a Windows drive letter
        raise EvidenceStoreError(
            f"EVIDENCE_URI scheme {scheme}:// is not supported: use s3://bucket/prefix or a local folder",
            kind="invalid_uri",
        )
    root = Path(text).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise EvidenceStoreError(
            f"EVIDENCE_URI {root} is a file, not a folder: point it at a folder (it is created if absent)",
            kind="invalid_uri",
            uri=str(root),
        )
    return EvidenceLocation(folder=root)


def redact_uri(text: str) -> str:
    """The URI without any `user:password@` it carries (and then without its query, which may too)."""
    return redact_url(text, userinfo="mask") if "@" in urlsplit(text).netloc else text
