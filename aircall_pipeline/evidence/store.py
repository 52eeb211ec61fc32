"""The write-once evidence store: a local folder or `s3://bucket/prefix`.

Layout (public, relied on by auditors and by `aircall-pipeline verify`)::

    <root>/aircall/<table>/date=<YYYY-MM-DD>/<table>.parquet  and  <table>.csv
    <root>/aircall/reports/date=<YYYY-MM-DD>/checks.json, report.html, manifest.json

Write-once and attempts
-----------------------
Nothing is ever overwritten or deleted. The first write of a table for a date is attempt 1 and uses
the plain names (`users.parquet`, `users.csv`). A rerun for the same date:

* is a no-op when its Parquet and CSV are byte-identical to the newest attempt (the existing
  artifacts are returned; this also completes an attempt a crash left without its CSV);
* otherwise writes attempt n+1 next to the earlier ones: `users.attempt-2.parquet`,
  `users.attempt-2.csv`, then `users.attempt-3.*`, ... The earlier files stay byte-for-byte as they
  were, so whatever an auditor already sampled remains available.

An attempt is complete when both its Parquet and its CSV exist (the CSV is written second);
`read_table` and the manifest use the newest complete attempt. Reports follow the same rule with one
attempt number for the three files (`checks.attempt-2.json`, `report.attempt-2.html`,
`manifest.attempt-2.json`), the manifest written last; the newest manifest is the day's evidence.

Exclusive creation: locally a file is written under a hidden temporary name and published with
`os.link`, which fails if the name exists (so a crash never leaves a half-written file under an
evidence name); where hard links are unsupported it falls back to `open(path, "xb")`. On S3 the
store uses a conditional put (`If-None-Match: *`, supported by AWS S3 since 2024-08 and by moto 5.2.5);
an endpoint that answers 501 NotImplemented to it gets head-then-put instead, with a warning, because
that leaves a small race window between two writers.

Determinism: Parquet is written by pyarrow without the pandas index, in the frame's column order,
with zstd compression and no timestamps in its metadata, so identical frames give identical bytes
(with the same pyarrow/pandas versions: both name themselves in the file's metadata).
Rows are stored in the order given: callers that want byte-identical reruns sort their frames.
A table too big to hold whole (a busy day's calls) is handed over as a `SpooledTable`, written a
batch at a time into a temporary Parquet file in row groups of a fixed row count (`ROW_GROUP_ROWS`),
so the same rows give the same bytes however they were batched; up to that many rows the bytes are
those of the whole frame. Its CSV is made from that file a row group at a time, with the same
conventions; both are hashed as they are written, and nothing is published until both are complete.
CSV is UTF-8, comma-separated, quoted only where needed, with timestamps as ISO-8601 UTC
(`2026-01-02T03:04:05Z`, or with six fractional digits when a column has sub-second values) and
integers written exactly (int64 ids above 2**53 survive). Naive timestamps are taken to be UTC.

This module is the front: `EvidenceStore` and the names callers import from here. Each job is a
module of its own, which the store hands its backend (and clock):

* `tables.py`: writing and reading day tables;
* `attempts.py`: attempt numbering, write-once writing, the newest trusted sealed attempt;
* `sealing.py`: `write_report` (report files, signature, timestamp, manifest) and reading manifests;
* `reviews.py`: access reviews (AC-16);
* `stored.py`: re-reading a stored file (hash, size, rows, lock state);
* `signature_check.py`: the one check of a stored signature, shared with `verify.py`;
* below them `layout.py` (names and folders), `errors.py`, `backends.py` (local folder and S3),
  `formats.py` (Parquet and CSV bytes).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from aircall_pipeline.evidence import reviews, sealing, stored, tables
from aircall_pipeline.evidence.backends import (
    Backend,
    LocalBackend,
    ObjectInfo,
    Retention,
    S3Backend,
    default_s3_client,
)
from aircall_pipeline.evidence.errors import EvidenceStoreError
from aircall_pipeline.evidence.formats import SpooledTable
from aircall_pipeline.evidence.intake import DEFAULT_FRESHNESS
from aircall_pipeline.evidence.layout import attempt_name, check_date, parse_attempt_name, parse_evidence_uri
from aircall_pipeline.evidence.manifest import Artifact, Manifest
from aircall_pipeline.evidence.signing import Signer, TrustedKey
from aircall_pipeline.evidence.tables import READ_FROM

__all__ = [
    "READ_FROM",
    "Artifact",
    "EvidenceStore",
    "EvidenceStoreError",
    "LocalBackend",
    "S3Backend",
    "SpooledTable",
    "attempt_name",
    "check_date",
    "default_s3_client",
    "parse_attempt_name",
]


class EvidenceStore:
    """Write-once evidence over a backend; see the module docstring for layout and attempts."""

    def __init__(self, backend: Backend, clock: Callable[[], datetime] | None = None):
        self.backend = backend
        # When manifests say they were sealed; tests inject a clock to replay a day's history.
        self.clock = clock or (lambda: datetime.now(UTC))

    @property
    def uri(self) -> str:
        return self.backend.uri

    def __repr__(self) -> str:
        return f"EvidenceStore({self.uri!r})"

    @classmethod
    def from_uri(
        cls, uri: str | os.PathLike[str], s3_client: Any = None, retention: Retention | None = None
    ) -> EvidenceStore:
        """`s3://bucket[/prefix]`, `file:///abs/path`, or a local folder, as `layout.parse_evidence_uri`
        reads it. Without `s3_client`, boto3's defaults are used (they honour
        AWS_ENDPOINT_URL_S3 and the usual AWS_* variables) with bounded retries. `retention` writes
        every S3 object with an Object Lock retention date (S3 only)."""
        location = parse_evidence_uri(uri)
        if retention is not None and not location.is_s3:
            raise EvidenceStoreError(
                f"EVIDENCE_RETENTION_DAYS is set but EVIDENCE_URI {os.fspath(uri)!r} is not an s3:// bucket: "
                "Object Lock retention needs a bucket with Object Lock enabled (or unset EVIDENCE_RETENTION_DAYS)",
                kind="invalid_uri",
            )
        if location.is_s3:
            return cls(S3Backend(s3_client or default_s3_client(), location.bucket, location.prefix,
                                 retention=retention))
        return cls(LocalBackend(location.folder))

    def full_uri(self, path: str) -> str:
        """The absolute location (local path or s3:// URI) of a root-relative path."""
        return self.backend.full_uri(path)

    # ---- tables (tables.py) -------------------------------------------------------------------

    def write_table(self, table: str, date: Any, df: pd.DataFrame | SpooledTable) -> list[Artifact]:
        """Store `df` as `<table>.parquet` + `<table>.csv` for `date`, write-once (see module doc).

        `df` is a DataFrame, or a `SpooledTable` that was written a batch at a time (a big day's
        calls): its Parquet is already in a temporary file, the CSV is made from it a row group at a
        time, and nothing is published until both are complete. The spooled table is closed here.
        Returns the Parquet and CSV artifacts of the attempt that now holds this content.
        """
        return tables.write_table(self.backend, table, date, df)

    def newest_table_attempt(self, table: str, date: Any) -> int | None:
        """The newest complete attempt number of `table` for `date`, or None."""
        return tables.newest_table_attempt(self.backend, table, date)

    def table_paths(self, table: str, date: Any) -> tuple[str, str] | None:
        """(parquet path, csv path) of the newest complete attempt, relative to the root; or None."""
        return tables.table_paths(self.backend, table, date)

    def has_table(self, table: str, date: Any) -> bool:
        return self.newest_table_attempt(table, date) is not None

    def read_table(self, table: str, date: Any, columns: list[str] | None = None) -> pd.DataFrame:
        """The newest complete attempt's Parquet for `table` on `date` (only `columns`, if given); the
        frame's `attrs[READ_FROM]` says which stored file (path, sha256) it was read from."""
        return tables.read_table(self.backend, table, date, columns)

    def dates(self, table: str) -> list[str]:
        """Evidence dates (sorted, oldest first) holding a complete attempt of `table`."""
        return tables.table_dates(self.backend, table)

    # ---- hashing stored files (stored.py) -----------------------------------------------------

    def stored_object(self, path: str, limit: int | None = None) -> tuple[Artifact, ObjectInfo]:
        """Re-read `path` from storage in one GET: its sha256, size and row count (Parquet footer, CSV
        records, number of checks in a checks JSON), and its lock state. Raises ObjectMissing, and
        ObjectTooLarge when it holds more than `limit` bytes (a verifier passes the declared size)."""
        return stored.stored_object(self.backend, path, limit)

    def stored_artifact(self, path: str) -> Artifact:
        return self.stored_object(path)[0]

    # ---- reports and manifests (sealing.py) ---------------------------------------------------

    def write_report(
        self,
        date: Any,
        *,
        checks: list[dict[str, Any]],
        manifest_fields: dict[str, Any],
        tables: list[str],
        signer: Signer | None = None,
        judged: dict[str, dict[str, str]] | None = None,
        timestamper: Callable[[bytes], bytes] | None = None,
        fresh_for: timedelta = DEFAULT_FRESHNESS,
    ) -> Manifest:
        """Write the day's checks.json, report.html, report.pdf, assessment-results.json (OSCAL) and
        records.jsonl, then the manifest's detached signature and the manifest (write-once attempts, see
        the module doc; the three platform files are `intake.py`'s).

        `checks`: dicts {id, name, status, observed, threshold, controls, reason, items: [...]}, status in
        pass|fail|warn|skip|error. `manifest_fields`: run_id, api_url, company, requests ({endpoint:
        {requests, rate_limited, retries}}), collected_at, plus any extra JSON-able fields to record.
        `tables`: every table that is part of the day; the newest attempt of each is re-read from storage
        and re-hashed for the manifest. Raises EvidenceStoreError (and writes nothing) when any is missing.
        `judged`: table -> {path, sha256} of the file the checks evaluated; the report refuses
        (kind `not_judged`) when the newest attempt of such a table is another file, so a manifest never
        lists data that no check judged. `signer`: signs the manifest; without one it is marked unsigned.
        `timestamper`: returns an RFC 3161 timestamp response over the signed statement (EVIDENCE_TSA_URL).
        `fresh_for`: the freshness policy (freshness_max_age_hours): the OSCAL observations expire then.

        With a signer, the detached signature (and the timestamp) is written *before* the manifest it
        covers, so a manifest without its signature can never come from the pipeline: `verify` treats
        one as forged. Before sealing, every earlier attempt of the day and the previous day's newest
        attempt are checked against the signer's own public key; one that does not verify is recorded
        in `rejected` (and in the returned manifest's `new_rejections` when no earlier attempt recorded
        it), and never chained to.
        """
        return sealing.write_report(
            self.backend, self.clock, date, checks=checks, manifest_fields=manifest_fields, tables=tables,
            signer=signer, judged=judged, timestamper=timestamper, fresh_for=fresh_for,
        )

    def report_dates(self) -> list[str]:
        """Dates (oldest first) that have a manifest, i.e. a complete day of evidence."""
        return sealing.report_dates(self.backend)

    def read_manifest(self, date: Any, trusted: TrustedKey | None = None) -> Manifest | None:
        """The day's evidence index: its newest manifest that conforms to the schema and, when `trusted`
        is given, is validly signed by it; None when the day has no manifest. A day whose manifests all
        fail raises EvidenceStoreError (kind `untrusted`) with the reasons: a reader never acts on a
        forged or malformed manifest. Newer attempts that fail are logged, skipped and listed in the
        result's `ignored`."""
        return sealing.read_manifest(self.backend, date, trusted)

    # ---- access reviews, AC-16 (reviews.py) ---------------------------------------------------

    def write_review(
        self, date: Any, review: pd.DataFrame, attestation: dict[str, Any], signer: Signer,
        timestamper: Callable[[bytes], bytes] | None = None,
    ) -> Manifest:
        """Store a completed access review of `date` under `aircall/reviews/date=D/`: review.parquet,
        review.csv, attestation.json and its signature, then the review manifest's signature (and, with
        `timestamper`, its timestamp token) and the manifest listing them, last (write-once attempts,
        like reports). The review must be of `date`: its attestation names that day and a manifest of
        that day's report folder."""
        return reviews.write_review(self.backend, self.clock, date, review, attestation, signer, timestamper)

    def review_dates(self) -> list[str]:
        return reviews.review_dates(self.backend)

    def latest_review(self, on_or_before: Any, trusted: TrustedKey | None) -> dict[str, Any] | None:
        """The newest access review of a day on or before `on_or_before` whose review manifest conforms
        and, with `trusted`, is signed by it, and whose attestation is the one it lists (same SHA-256),
        of the same day, and signed too. Returns the attestation with `date`, `path`, `signature`
        (valid | missing | malformed | moved | foreign | invalid, or None without a key) and `ignored`
        (newer review attempts that were refused, and why); None when there is no review."""
        return reviews.latest_review(self.backend, on_or_before, trusted)

    # ---- verification (verify.py) -------------------------------------------------------------

    def verify(self, date: Any, trusted: TrustedKey | None = None, to: Any = None, **options: Any) -> Any:
        """Verify one day (or the range `date`..`to`); see `evidence/verify.py`. Returns a
        `DayVerification` for one day, a `RangeVerification` for a range."""
        from aircall_pipeline.evidence.verify import verify_range

        result = verify_range(self, check_date(date), check_date(to) if to is not None else None, trusted,
                              **options)
        return result if to is not None else result.days[0]
