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

Modules: `layout.py` (names and folders), `errors.py` (EvidenceStoreError), `backends.py` (local
folder and S3), `formats.py` (Parquet and CSV bytes); this module is the store that ties them
together and re-exports the names callers import from here.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import aircall_pipeline.evidence.objects as objects
from aircall_pipeline import __version__
from aircall_pipeline.evidence.backends import (
    Backend,
    Blob,
    LocalBackend,
    ObjectInfo,
    RangeFile,
    Retention,
    S3Backend,
    default_s3_client,
)
from aircall_pipeline.evidence.errors import EvidenceStoreError, NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.formats import (
    SpooledTable,
    arrow_table,
    count_csv_rows,
    csv_blob,
    parquet_bytes,
)
from aircall_pipeline.evidence.intake import DEFAULT_FRESHNESS, SealedAttempt, intake_files
from aircall_pipeline.evidence.layout import (
    REPORT_BASES,
    REPORTS,
    REVIEW_BASES,
    REVIEWS,
    ROOT,
    SEALED_REPORT_BASES,
    SEALED_REVIEW_BASES,
    attempt_name,
    check_date,
    check_table,
    day_of_folder,
    parse_attempt_name,
    parse_evidence_uri,
    reports_folder,
    reviews_folder,
    signature_path,
    table_folder,
    token_path,
)
from aircall_pipeline.evidence.manifest import (
    MANIFEST_VERSION,
    Artifact,
    Manifest,
    build_manifest_data,
    iso_utc,
    json_bytes,
    normalise_check,
    to_jsonable,
)
from aircall_pipeline.evidence.report import ITEM_ROW_LIMIT, render_report
from aircall_pipeline.evidence.schemas import (
    MAX_DOCUMENT_BYTES,
    Attestation,
    DailyManifest,
    Malformed,
    ReviewManifest,
    parse,
)
from aircall_pipeline.evidence.signing import (
    SIG_MALFORMED,
    SignatureCheck,
    Signer,
    TrustedKey,
    check_signature,
    sign_manifest,
    statement,
)
from aircall_pipeline.evidence.timestamping import TimestampError

__all__ = [
    "Artifact",
    "EvidenceStore",
    "EvidenceStoreError",
    "LocalBackend",
    "S3Backend",
    "SpooledTable",
    "attempt_name",
    "default_s3_client",
]

log = logging.getLogger(__name__)

MAX_ATTEMPT_RACES = 20
# DataFrame.attrs key under which `read_table` records the stored file a frame was read from.
READ_FROM = "evidence_read_from"


def _hashing(chunks: Iterator[bytes], into: Any, counter: list[int]) -> Iterator[bytes]:
    for chunk in chunks:
        into.update(chunk)
        counter[0] += len(chunk)
        yield chunk


class Deferred:
    """File content obtained when first needed, once (a timestamp token: a request to a TSA)."""

    def __init__(self, make: Callable[[], bytes]):
        self._make, self._value = make, None

    def __call__(self) -> bytes:
        if self._value is None:
            self._value = self._make()
        return self._value


Content = bytes | Blob | Deferred


def _resolved(data: Content) -> bytes | Blob:
    return data() if isinstance(data, Deferred) else data


def _stamped(timestamper: Callable[[bytes], bytes], message: bytes, what: str) -> bytes:
    try:
        return timestamper(message)
    except TimestampError as exc:
        raise EvidenceStoreError(
            f"{what} was not sealed: {exc} Nothing of this attempt was written (the timestamp is obtained "
            "before its first file), so no manifest lacks its proof of time; seal again once a TSA answers",
            kind="timestamp",
        ) from None


# The last bytes of a Parquet file kept while it is hashed: its footer (the row count) is in them
# unless the file has a very large schema or very many row groups, which are then read again.
PARQUET_TAIL = 1024 * 1024
_FOOTER_NOT_IN_TAIL: Any = object()


def _last_bytes(chunks: Iterator[bytes], keep: int) -> bytes:
    tail = bytearray()
    for chunk in chunks:
        tail += chunk
        if len(tail) > keep:
            del tail[:-keep]
    return bytes(tail)


class _TailFile(RangeFile):
    """A file of `size` bytes of which only the last ones (`tail`) can be read."""

    def __init__(self, tail: bytes, size: int):
        super().__init__(size)
        self._tail, self._start = tail, size - len(tail)

    def _range(self, start: int, end: int) -> bytes:
        if start < self._start:
            raise OSError("outside the bytes kept")
        return self._tail[start - self._start:end - self._start]


def _parquet_rows(tail: bytes, size: int) -> Any:
    """The row count in a Parquet file's footer, read from its last bytes; _FOOTER_NOT_IN_TAIL when
    they do not hold all of it. Raises pa.ArrowInvalid or OSError for what is not Parquet."""
    if len(tail) < size and (len(tail) < 8 or int.from_bytes(tail[-8:-4], "little") + 8 > len(tail)):
        return _FOOTER_NOT_IN_TAIL
    return pq.ParquetFile(_TailFile(tail, size)).metadata.num_rows


# --------------------------------------------------------------------------------------------------
# Report helpers


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _findings_table(check: dict[str, Any]) -> str:
    """The evidence table holding a check's full findings: `findings_table` if the check names one,
    else the compliance assets' naming (`AC-01` + `user_inventory` -> `ac01_user_inventory`)."""
    if check.get("findings_table"):
        return str(check["findings_table"])
    return f"{str(check.get('id', '')).lower().replace('-', '')}_{check.get('name') or ''}"


def _iso(value: Any) -> str:
    try:
        return iso_utc(value)
    except (TypeError, ValueError):
        return str(value)


def _instant_or(value: str | None, default: datetime) -> datetime:
    """`collected_at` as an aware instant for the OSCAL result's start (the sealing time if unreadable)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------------
# The store


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

    # ---- attempts ---------------------------------------------------------------------------

    def _attempts(self, folder: str, bases: tuple[str, ...]) -> dict[int, set[str]]:
        """Attempt number -> the base names (e.g. "users.parquet") present for it in `folder`."""
        wanted = {tuple(b.rsplit(".", 1)) for b in bases}
        found: dict[int, set[str]] = {}
        for key in self.backend.list(folder):
            name = key[len(folder) + 1 :]
            if "/" in name:
                continue
            parsed = parse_attempt_name(name)
            if parsed and (parsed[0], parsed[2]) in wanted:
                found.setdefault(parsed[1], set()).add(f"{parsed[0]}.{parsed[2]}")
        return found

    @staticmethod
    def _newest_complete(attempts: dict[int, set[str]], required: tuple[str, ...]) -> int | None:
        complete = [n for n, names in attempts.items() if set(required) <= names]
        return max(complete) if complete else None

    def _same_content(self, key: str, data: bytes | Blob) -> bool:
        blob = Blob.of(data)
        if self.backend.head(key) != blob.size:
            return False
        digest = hashlib.sha256()
        for chunk in self.backend.iter_chunks(key):
            digest.update(chunk)
        return digest.hexdigest() == blob.sha256

    def _write_attempt(
        self, folder: str, bases: tuple[str, ...], build: Callable[[int], list[tuple[str, Content]]]
    ) -> tuple[int, bool]:
        """Write one attempt's files, in order, never replacing anything.

        `build(n)` returns [(base name, bytes)] for attempt n; content may be `Deferred` (obtained only
        when it is compared or written). Returns (attempt, wrote_anything).
        The newest existing attempt is reused when each of its files is byte-identical to ours (and
        its missing files, left by an interrupted run, are added); otherwise the next free number is
        taken. Losing a race for a name moves on to the next number.
        """
        attempts = self._attempts(folder, bases)
        newest = max(attempts) if attempts else 0
        if newest:
            files = build(newest)
            present = attempts[newest]
            # all() stops at the first file that differs, so deferred content after it is never obtained.
            if all(
                self._same_content(self._key(folder, base, newest), _resolved(data))
                for base, data in files
                if base in present
            ):
                wrote = False
                clean = True
                for base, data in files:
                    if base in present:
                        continue
                    key = self._key(folder, base, newest)
                    data = _resolved(data)
                    if self.backend.put_if_absent(key, data):
                        wrote = True
                    elif not self._same_content(key, data):
                        clean = False
                        break
                if clean:
                    return newest, wrote
        for number in range(newest + 1, newest + 1 + MAX_ATTEMPT_RACES):
            # Deferred content (a timestamp token) is obtained before the attempt's first file is
            # written: a TSA that fails leaves nothing of the attempt behind.
            files = [(base, _resolved(data)) for base, data in build(number)]
            owned = True
            for base, data in files:
                key = self._key(folder, base, number)
                if not self.backend.put_if_absent(key, data) and not self._same_content(key, data):
                    owned = False  # a concurrent writer took this attempt number
                    break
            if owned:
                return number, True
        raise EvidenceStoreError(
            f"could not find a free attempt name in {self.backend.full_uri(folder)} after "
            f"{MAX_ATTEMPT_RACES} tries: too many writers for the same day at once",
            kind="conflict",
        )

    @staticmethod
    def _key(folder: str, base: str, attempt: int) -> str:
        stem, ext = base.rsplit(".", 1)
        return f"{folder}/{attempt_name(stem, ext, attempt)}"

    # ---- tables -----------------------------------------------------------------------------

    def write_table(self, table: str, date: Any, df: pd.DataFrame | SpooledTable) -> list[Artifact]:
        """Store `df` as `<table>.parquet` + `<table>.csv` for `date`, write-once (see module doc).

        `df` is a DataFrame, or a `SpooledTable` that was written a batch at a time (a big day's
        calls): its Parquet is already in a temporary file, the CSV is made from it a row group at a
        time, and nothing is published until both are complete. The spooled table is closed here.
        Returns the Parquet and CSV artifacts of the attempt that now holds this content.
        """
        table, date = check_table(table), check_date(date)
        if isinstance(df, SpooledTable):
            try:
                rows, parquet, csv_data = df.rows, df.finish(), df.csv_blob()
            except BaseException:
                df.close()
                raise
        else:
            arrow = arrow_table(df)
            rows = arrow.num_rows
            parquet = Blob.of(parquet_bytes(arrow))
            csv_data = csv_blob(arrow)
            del arrow
        folder = table_folder(table, date)
        bases = (f"{table}.parquet", f"{table}.csv")
        files = [(bases[0], parquet), (bases[1], csv_data)]
        try:
            number, wrote = self._write_attempt(folder, bases, lambda _n: files)
        finally:
            csv_data.close()
            parquet.close()
        artifacts = [
            Artifact(self._key(folder, base, number), blob.sha256, blob.size, rows) for base, blob in files
        ]
        log.info(
            "%s %s for %s: attempt %d (%d rows) in %s",
            "wrote" if wrote else "unchanged, kept",
            table,
            date,
            number,
            rows,
            self.backend.full_uri(folder),
        )
        return artifacts

    def newest_table_attempt(self, table: str, date: Any) -> int | None:
        """The newest complete attempt number of `table` for `date`, or None."""
        table, date = check_table(table), check_date(date)
        bases = (f"{table}.parquet", f"{table}.csv")
        return self._newest_complete(self._attempts(table_folder(table, date), bases), bases)

    def table_paths(self, table: str, date: Any) -> tuple[str, str] | None:
        """(parquet path, csv path) of the newest complete attempt, relative to the root; or None."""
        number = self.newest_table_attempt(table, date)
        if number is None:
            return None
        folder = table_folder(table, check_date(date))
        return self._key(folder, f"{table}.parquet", number), self._key(folder, f"{table}.csv", number)

    def has_table(self, table: str, date: Any) -> bool:
        return self.newest_table_attempt(table, date) is not None

    def read_table(self, table: str, date: Any, columns: list[str] | None = None) -> pd.DataFrame:
        """The newest complete attempt's Parquet for `table` on `date` (only `columns`, if given)."""
        paths = self.table_paths(table, date)
        if paths is None:
            raise EvidenceStoreError(
                f"no {table} evidence for {check_date(date)} in {self.uri}: materialize that partition first",
                kind="incomplete",
                uri=self.backend.full_uri(table_folder(check_table(table), check_date(date))),
            )
        info = self.backend.stat(paths[0])
        # A local file is hashed as it is read in chunks, then parsed from disk (only the columns asked
        # for): a big day's calls are never in memory as bytes. S3 fetches small objects in one GET.
        if info.size <= objects.WHOLE_OBJECT_LIMIT and not isinstance(self.backend, LocalBackend):
            data = self.backend.get(paths[0])
            sha256 = _sha(data)
            source: Any = io.BytesIO(data)
        else:
            # Read only the columns asked for, with ranged reads; the hash is the one recorded when the
            # file was written (or computed, where storage keeps none), not a second full download.
            sha256 = info.recorded_sha256 or self.stored_artifact(paths[0]).sha256
            source = self.backend.open_seekable(paths[0])
        with source as fh:
            try:
                frame = pd.read_parquet(fh, columns=list(columns) if columns is not None else None)
            except (pa.ArrowInvalid, KeyError, ValueError) as exc:
                raise EvidenceStoreError(
                    f"cannot read {self.backend.full_uri(paths[0])}: {exc}", kind="storage"
                ) from None
        # Which stored file these rows came from, so a check can record what it judged and the day's
        # report can refuse to list anything else (see `write_report(judged=...)`).
        frame.attrs[READ_FROM] = {"path": paths[0], "sha256": sha256}
        return frame

    def dates(self, table: str) -> list[str]:
        """Evidence dates (sorted, oldest first) holding a complete attempt of `table`."""
        table = check_table(table)
        prefix = f"{ROOT}/{table}"
        by_date: dict[str, dict[int, set[str]]] = {}
        for key in self.backend.list(prefix):
            parts = key[len(prefix) + 1 :].split("/")
            if len(parts) != 2 or not (day := day_of_folder(parts[0])):
                continue
            parsed = parse_attempt_name(parts[1])
            if parsed and parsed[0] == table and parsed[2] in ("parquet", "csv"):
                by_date.setdefault(day, {}).setdefault(parsed[1], set()).add(parsed[2])
        return sorted(
            d
            for d, attempts in by_date.items()
            if any({"parquet", "csv"} <= exts for exts in attempts.values())
        )

    def full_uri(self, path: str) -> str:
        """The absolute location (local path or s3:// URI) of a root-relative path."""
        return self.backend.full_uri(path)

    # ---- hashing stored files ---------------------------------------------------------------

    def stored_object(self, path: str, limit: int | None = None) -> tuple[Artifact, ObjectInfo]:
        """Re-read `path` from storage in one GET: its sha256, size and row count (Parquet footer, CSV
        records, number of checks in a checks JSON), and its lock state. Raises ObjectMissing, and
        ObjectTooLarge when it holds more than `limit` bytes (a verifier passes the declared size)."""
        digest, counter = hashlib.sha256(), [0]
        ext = path.rsplit(".", 1)[-1]
        info, raw = self.backend.read(path, limit)
        chunks = _hashing(raw, digest, counter)
        rows: int | None = None
        tail = b""
        if ext == "parquet":
            tail = _last_bytes(chunks, PARQUET_TAIL)  # the footer, without holding the whole file
        elif ext == "csv":
            rows = count_csv_rows(chunks)
        elif ext == "jsonl":
            rows = sum(chunk.count(b"\n") for chunk in chunks)  # one record per line (records.jsonl)
        elif ext == "json" and posixpath.basename(path).startswith("checks."):
            try:
                parsed = json.loads(b"".join(chunks))
                rows = len(parsed) if isinstance(parsed, list) else None
            except ValueError:
                rows = None
        for _ in chunks:  # drain whatever a row counter left unread
            pass
        if ext == "parquet":
            try:
                rows = _parquet_rows(tail, counter[0])
                if rows is _FOOTER_NOT_IN_TAIL:
                    with self.backend.open_seekable(path) as fh:
                        rows = pq.ParquetFile(fh).metadata.num_rows
            except (pa.ArrowInvalid, OSError):
                rows = None  # not a readable Parquet file: the hash already tells the story
        return Artifact(path, digest.hexdigest(), counter[0], rows), info

    def stored_artifact(self, path: str) -> Artifact:
        return self.stored_object(path)[0]

    # ---- reports and manifests --------------------------------------------------------------

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
        date = check_date(date)
        table_names = list(dict.fromkeys(check_table(t) for t in tables))
        try:
            checks_norm = [normalise_check(c) for c in checks]
        except ValueError as exc:
            raise EvidenceStoreError(
                f"the {date} report was not written: {exc}", kind="invalid_input"
            ) from None
        ids = [c["id"] for c in checks_norm]
        if len(set(ids)) != len(ids):
            raise EvidenceStoreError(
                f"the {date} report was not written: duplicate check ids {sorted({i for i in ids if ids.count(i) > 1})}",
                kind="invalid_input",
            )
        paths = {t: self.table_paths(t, date) for t in table_names}
        missing = [t for t, p in paths.items() if p is None]
        if missing:
            raise EvidenceStoreError(
                f"the {date} report was not written: no evidence for {', '.join(missing)} on {date} in "
                f"{self.uri}. Materialize those tables for {date} first; a day's manifest is only written "
                "when every file it lists is in place, so no partial day is presented as complete",
                kind="incomplete",
                uri=self.uri,
            )
        table_artifacts = {t: [self.stored_artifact(p) for p in paths[t]] for t in table_names}
        if judged is not None:
            self._refuse_unjudged(date, table_artifacts, judged)
        listed = [a for t in table_names for a in table_artifacts[t]]
        trusted_self = TrustedKey(signer.public_key, source="signer") if signer is not None else None
        previous, rejected_days = self._previous_manifest_link(date, trusted_self)
        checks_data = json_bytes(checks_norm)
        folder = reports_folder(date)
        company = manifest_fields.get("company")
        built: dict[int, tuple[list[tuple[str, Content]], dict[str, Any]]] = {}
        new_rejections: dict[int, list[dict[str, Any]]] = {}

        findings_tables = {c["id"]: table_artifacts[t][0] for c in checks_norm
                           if (t := _findings_table(c)) in table_artifacts and table_artifacts[t]}
        collected_at = manifest_fields.get("collected_at") and _iso(manifest_fields["collected_at"])

        def build(number: int) -> list[tuple[str, Content]]:
            if number not in built:
                checks_path = self._key(folder, "checks.json", number)
                report_path = self._key(folder, "report.html", number)

                def render_html(item_limit: int = ITEM_ROW_LIMIT) -> str:
                    return render_report(
                        date=date,
                        company=company,
                        collected_at=collected_at,
                        run_id=manifest_fields.get("run_id"),
                        package_version=__version__,
                        api_url=manifest_fields.get("api_url"),
                        checks=[{**c, "findings_table": _findings_table(c)} for c in checks_norm],
                        tables=table_artifacts,
                        report_dir=folder,
                        checks_path=checks_path,
                        attempt=number,
                        item_limit=item_limit,
                    )

                html_data = render_html().encode("utf-8")
                manifest_path = self._key(folder, "manifest.json", number)
                # One instant for the manifest's sealed_at and the OSCAL observations' `collected`, in
                # whole milliseconds: OSCAL (trestle) writes no finer, and the two must say the same.
                sealed_at = self.clock()
                sealed_at = sealed_at.replace(microsecond=sealed_at.microsecond // 1000 * 1000)
                intake = intake_files(SealedAttempt(
                    day=date, attempt=number, checks=checks_norm, findings_tables=findings_tables,
                    report_dir=folder, manifest_path=manifest_path,
                    manifest_uri=self.backend.full_uri(manifest_path), company=company,
                    package_version=__version__, collected_at=_instant_or(collected_at, sealed_at),
                    sealed_at=sealed_at, fresh_for=fresh_for), render_html)
                artifacts = listed + [
                    Artifact(checks_path, _sha(checks_data), len(checks_data), len(checks_norm)),
                    Artifact(report_path, _sha(html_data), len(html_data), None),
                    *(Artifact(self._key(folder, base, number), _sha(data), len(data),
                               len(checks_norm) if base.endswith(".jsonl") else None)
                      for base, data in intake),
                ]
                own = {a.path for a in artifacts} | {manifest_path, signature_path(manifest_path),
                                                     token_path(manifest_path)}
                prior, rejected = self._prior_attempt(folder, number, trusted_self)
                try:
                    data = build_manifest_data(
                        date=date,
                        attempt=number,
                        package_version=__version__,
                        manifest_fields=manifest_fields,
                        artifacts=artifacts,
                        checks=checks_norm,
                        previous=previous,
                        previous_attempt=prior.link if prior else None,
                        reason=attempt_reason(prior.artifacts if prior else None, listed),
                        other_files=self._other_files(date, table_names, own),
                        rejected=rejected + rejected_days,
                        signing=signing_note(signer, manifest_path, timestamped=timestamper is not None),
                        sealed_at=sealed_at,
                    )
                except ValueError as exc:
                    raise EvidenceStoreError(
                        f"the {date} report was not written: {exc}", kind="invalid_input"
                    ) from None
                manifest_bytes = json_bytes(data)
                new_rejections[number] = self._new_rejections(rejected + rejected_days, prior)
                built[number] = ([("checks.json", checks_data), ("report.html", html_data), *intake,
                                  *self._seal_files(signer, timestamper, manifest_path, manifest_bytes,
                                                    f"the {date} report"),
                                  ("manifest.json", manifest_bytes)], data)
            return built[number][0]

        number, wrote = self._write_attempt(folder, SEALED_REPORT_BASES, build)
        files, data = built[number]
        manifest_bytes = files[-1][1]
        path = self._key(folder, "manifest.json", number)
        log.info(
            "%s the %s report (attempt %d, %s) in %s",
            "wrote" if wrote else "kept",
            date,
            number,
            "signed" if signer is not None else "UNSIGNED",
            self.backend.full_uri(folder),
        )
        return Manifest(
            data=data,
            path=path,
            sha256=_sha(manifest_bytes),
            uri=self.backend.full_uri(path),
            bytes=len(manifest_bytes),
            new_rejections=new_rejections[number],
        )

    @staticmethod
    def _seal_files(signer: Signer | None, timestamper: Callable[[bytes], bytes] | None, path: str,
                    manifest_bytes: bytes, what: str) -> list[tuple[str, Content]]:
        """The detached signature and timestamp of a manifest, written before it (see write_report).
        The token is deferred: asking the TSA only for the attempt actually written, not for the
        comparison with the newest attempt that `_write_attempt` makes first."""
        if signer is None:
            return []
        signature = sign_manifest(signer, path, manifest_bytes)
        files: list[tuple[str, Content]] = [("manifest.sig", signature.to_json())]
        if timestamper is not None:
            message = statement(path, signature.bytes, signature.sha256)
            files.append(("manifest.tsr", Deferred(lambda: _stamped(timestamper, message, what))))
        return files

    @staticmethod
    def _new_rejections(rejected: list[dict[str, Any]], prior: PriorAttempt | None) -> list[dict[str, Any]]:
        """The rejected objects this attempt found that the attempt it chains to had not recorded: what
        the tamper alert names, once."""
        known = {(r.get("path"), r.get("sha256")) for r in (prior.rejected if prior else [])}
        return [r for r in rejected if (r["path"], r.get("sha256")) not in known]

    # ---- trust: which sealed attempts the pipeline (and every reader) accepts -------------------

    def _signature_check(self, path: str, raw: bytes, trusted: TrustedKey) -> SignatureCheck:
        try:
            signature = self.backend.get(signature_path(path), limit=MAX_DOCUMENT_BYTES)
        except ObjectMissing:
            signature = None
        except (NotRegularFile, ObjectTooLarge) as exc:
            return SignatureCheck(SIG_MALFORMED, str(exc))
        return check_signature(path, raw, signature, trusted)

    def _newest_trusted(
        self, folder: str, bases: tuple[str, ...], model: type, trusted: TrustedKey | None, below: int | None = None,
    ) -> tuple[Sealed | None, list[dict[str, Any]]]:
        """The newest manifest attempt in `folder` (below attempt `below`, if given) that conforms to
        `model` and, when `trusted` is given, carries a valid signature by it; and every attempt above
        it that does not (path, sha256 and why), newest first. Storage errors propagate."""
        attempts = self._attempts(folder, bases)
        numbers = sorted((n for n, names in attempts.items() if "manifest.json" in names
                          and (below is None or n < below)), reverse=True)
        rejected: list[dict[str, Any]] = []
        for number in numbers:
            path = self._key(folder, "manifest.json", number)
            try:
                raw = self.backend.get(path, limit=MAX_DOCUMENT_BYTES)
            except (NotRegularFile, ObjectTooLarge) as exc:
                rejected.append({"path": path, "sha256": None, "reason": str(exc)})
                continue
            except ObjectMissing:
                continue  # deleted between the listing and the read
            try:
                parse(model, raw)
            except Malformed as exc:
                rejected.append({"path": path, "sha256": _sha(raw), "reason": f"malformed: {exc}"})
                continue
            if trusted is not None:
                check = self._signature_check(path, raw, trusted)
                if not check.valid:
                    rejected.append({"path": path, "sha256": _sha(raw),
                                     "reason": f"{check.state}: {check.reason}"})
                    continue
            return Sealed(number, path, raw, json.loads(raw)), rejected
        return None, rejected

    def _refuse_unjudged(
        self, date: str, table_artifacts: dict[str, list[Artifact]], judged: dict[str, dict[str, str]]
    ) -> None:
        wrong = []
        for table, seen in sorted(judged.items()):
            if table not in table_artifacts:
                continue
            current = table_artifacts[table][0]  # the Parquet file: the one the checks read
            if current.path != seen.get("path") or current.sha256 != seen.get("sha256"):
                wrong.append(f"{table} (judged {seen.get('path')}, newest is {current.path})")
        if wrong:
            raise EvidenceStoreError(
                f"the {date} report was not written: the files it would list are not the ones the checks "
                f"judged: {'; '.join(wrong)}. Another run wrote them after the checks ran; run the whole "
                "job for this day again so the checks judge what the manifest will list",
                kind="not_judged",
                uri=self.uri,
            )

    def _prior_attempt(
        self, folder: str, number: int, trusted: TrustedKey | None, bases: tuple[str, ...] = REPORT_BASES,
        model: type = DailyManifest,
    ) -> tuple[PriorAttempt | None, list[dict[str, Any]]]:
        """What attempt `number` chains to: the newest earlier attempt that verifies against our own key
        (or, unsigned, the newest well-formed one); and the attempts above it that do not."""
        sealed, rejected = self._newest_trusted(folder, bases, model, trusted, below=number)
        if sealed is None:
            return None, rejected
        try:
            artifacts = [Artifact.from_dict(a) for a in sealed.data.get("artifacts", [])]
        except (ValueError, KeyError, TypeError):
            artifacts = []
        link = {"path": sealed.path, "sha256": _sha(sealed.raw), "bytes": len(sealed.raw), "attempt": sealed.number}
        if trusted is not None:
            link["signature"] = "valid"
        return PriorAttempt(link, artifacts, list(sealed.data.get("rejected") or [])), rejected

    def _other_files(self, date: str, tables: list[str], own: set[str]) -> list[dict[str, Any]]:
        """Every other file in the day's folders when sealing (earlier attempts, interrupted runs),
        hashed, so that the newest manifest accounts for everything and a file added later stands out.
        A name no manifest may list (hidden, or not a regular file) is left for `verify` to report."""
        from aircall_pipeline.evidence.schemas import SAFE_PATH

        keys = [k for t in tables for k in self.backend.list(table_folder(t, date))]
        keys += self.backend.list(reports_folder(date))
        out = []
        for key in sorted(set(keys) - own):
            if not SAFE_PATH.match(key):
                continue
            try:
                out.append(self.stored_artifact(key).as_dict())
            except (ObjectMissing, NotRegularFile):
                continue
        return out

    def _report_dates(self) -> dict[str, dict[int, set[str]]]:
        """Every report date -> attempt number -> base names present."""
        prefix = f"{ROOT}/{REPORTS}"
        out: dict[str, dict[int, set[str]]] = {}
        for key in self.backend.list(prefix):
            parts = key[len(prefix) + 1 :].split("/")
            if len(parts) != 2 or not (day := day_of_folder(parts[0])):
                continue
            parsed = parse_attempt_name(parts[1])
            if parsed and f"{parsed[0]}.{parsed[2]}" in REPORT_BASES:
                out.setdefault(day, {}).setdefault(parsed[1], set()).add(f"{parsed[0]}.{parsed[2]}")
        return out

    def _previous_manifest_link(
        self, date: str, trusted: TrustedKey | None
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The day-to-day link: the newest attempt, at this moment, of the most recent earlier sealed
        day that verifies against our key; and the newer attempts (or whole days) that do not."""
        rejected: list[dict[str, Any]] = []
        for earlier in sorted((d for d in self._report_dates() if d < date), reverse=True):
            sealed, refused = self._newest_trusted(reports_folder(earlier), REPORT_BASES, DailyManifest, trusted)
            rejected += refused
            if sealed is not None:
                return {"path": sealed.path, "sha256": _sha(sealed.raw), "bytes": len(sealed.raw), "date": earlier,
                        "attempt": sealed.number}, rejected
        return None, rejected

    def report_dates(self) -> list[str]:
        """Dates (oldest first) that have a manifest, i.e. a complete day of evidence."""
        return sorted(
            d
            for d, attempts in self._report_dates().items()
            if any("manifest.json" in names for names in attempts.values())
        )

    def read_manifest(self, date: Any, trusted: TrustedKey | None = None) -> Manifest | None:
        """The day's evidence index: its newest manifest that conforms to the schema and, when `trusted`
        is given, is validly signed by it; None when the day has no manifest. A day whose manifests all
        fail raises EvidenceStoreError (kind `untrusted`) with the reasons: a reader never acts on a
        forged or malformed manifest. Newer attempts that fail are logged, skipped and listed in the
        result's `ignored`."""
        date = check_date(date)
        sealed, rejected = self._newest_trusted(reports_folder(date), REPORT_BASES, DailyManifest, trusted)
        if sealed is None:
            if not rejected:
                return None
            raise EvidenceStoreError(
                f"no manifest of {date} in {self.uri} can be trusted: "
                + "; ".join(f"{r['path']} ({r['reason']})" for r in rejected)
                + ". Run `aircall-pipeline verify` on this day",
                kind="untrusted",
                uri=self.backend.full_uri(reports_folder(date)),
            )
        for r in rejected:
            log.warning("ignored %s: %s", r["path"], r["reason"])
        return Manifest(data=sealed.data, path=sealed.path, sha256=_sha(sealed.raw),
                        uri=self.backend.full_uri(sealed.path), bytes=len(sealed.raw), ignored=rejected)

    # ---- access reviews (AC-16) ------------------------------------------------------------

    def write_review(
        self, date: Any, review: pd.DataFrame, attestation: dict[str, Any], signer: Signer,
        timestamper: Callable[[bytes], bytes] | None = None,
    ) -> Manifest:
        """Store a completed access review of `date` under `aircall/reviews/date=D/`: review.parquet,
        review.csv, attestation.json and its signature, then the review manifest's signature (and, with
        `timestamper`, its timestamp token) and the manifest listing them, last (write-once attempts,
        like reports). The review must be of `date`: its attestation names that day and a manifest of
        that day's report folder."""
        date = check_date(date)
        snapshot = (attestation.get("snapshot") or {}).get("path") or ""
        if attestation.get("date") != date or not str(snapshot).startswith(reports_folder(date) + "/"):
            raise EvidenceStoreError(
                f"the review was not stored: it reviews {attestation.get('date')!r} ({snapshot or 'no snapshot'}), "
                f"not {date}; a review is filed under the day whose sealed users it reviewed",
                kind="invalid_input",
            )
        folder = reviews_folder(date)
        arrow = arrow_table(review)
        parquet = parquet_bytes(arrow)
        csv_data = csv_blob(arrow).bytes()
        attestation_data = json_bytes(attestation)
        trusted_self = TrustedKey(signer.public_key, source="signer")
        built: dict[int, tuple[list[tuple[str, Content]], dict[str, Any]]] = {}

        def build(number: int) -> list[tuple[str, Content]]:
            if number not in built:
                files = [("review.parquet", parquet), ("review.csv", csv_data), ("attestation.json", attestation_data)]
                artifacts = [
                    Artifact(self._key(folder, base, number), _sha(data), len(data),
                             arrow.num_rows if base.startswith("review.") else None)
                    for base, data in files
                ]
                attestation_path = self._key(folder, "attestation.json", number)
                manifest_path = self._key(folder, "manifest.json", number)
                prior, rejected = self._prior_attempt(folder, number, trusted_self, bases=REVIEW_BASES,
                                                      model=ReviewManifest)
                data = to_jsonable({
                    "manifest_version": MANIFEST_VERSION,
                    "kind": "access_review",
                    "date": date,
                    "attempt": number,
                    "artifacts": [a.as_dict() for a in artifacts],
                    "snapshot": attestation.get("snapshot"),
                    "previous_attempt": prior.link if prior else None,
                    "rejected": rejected,
                    "signing": signing_note(signer, manifest_path, timestamped=timestamper is not None),
                    "sealed_at": iso_utc(self.clock()),
                })
                manifest_bytes = json_bytes(data)
                built[number] = ([
                    *files,
                    ("attestation.sig", sign_manifest(signer, attestation_path, attestation_data).to_json()),
                    *self._seal_files(signer, timestamper, manifest_path, manifest_bytes,
                                      f"the {date} access review"),
                    ("manifest.json", manifest_bytes),
                ], data)
            return built[number][0]

        number, _ = self._write_attempt(folder, SEALED_REVIEW_BASES, build)
        files, data = built[number]
        manifest_bytes = files[-1][1]
        path = self._key(folder, "manifest.json", number)
        return Manifest(data=data, path=path, sha256=_sha(manifest_bytes), uri=self.backend.full_uri(path),
                        bytes=len(manifest_bytes))

    def review_dates(self) -> list[str]:
        prefix = f"{ROOT}/{REVIEWS}"
        dates = set()
        for key in self.backend.list(prefix):
            parts = key[len(prefix) + 1:].split("/")
            if len(parts) == 2 and (day := day_of_folder(parts[0])) and parts[1].startswith("manifest."):
                dates.add(day)
        return sorted(dates)

    def latest_review(self, on_or_before: Any, trusted: TrustedKey | None) -> dict[str, Any] | None:
        """The newest access review of a day on or before `on_or_before` whose review manifest conforms
        and, with `trusted`, is signed by it, and whose attestation is the one it lists (same SHA-256),
        of the same day, and signed too. Returns the attestation with `date`, `path`, `signature`
        (valid | missing | malformed | moved | foreign | invalid, or None without a key) and `ignored`
        (newer review attempts that were refused, and why); None when there is no review."""
        day = check_date(on_or_before)
        ignored: list[dict[str, Any]] = []
        for review_date in reversed([d for d in self.review_dates() if d <= day]):
            folder = reviews_folder(review_date)
            sealed, rejected = self._newest_trusted(folder, REVIEW_BASES, ReviewManifest, trusted)
            ignored += rejected
            if sealed is None:
                if rejected:  # a review is there, but it does not count: say so rather than skip it
                    return {"date": review_date, "path": rejected[0]["path"],
                            "signature": rejected[0]["reason"].split(":", 1)[0], "ignored": ignored}
                continue
            listed = {a["path"]: a["sha256"] for a in sealed.data["artifacts"]}
            path = next((p for p in listed if posixpath.basename(p).startswith("attestation.")), None)
            if path is None:
                ignored.append({"path": sealed.path, "reason": "its review manifest lists no attestation"})
                continue
            try:
                raw = self.backend.get(path, limit=MAX_DOCUMENT_BYTES)
                attestation = parse(Attestation, raw).model_dump()
            except (ObjectMissing, NotRegularFile, ObjectTooLarge, Malformed) as exc:
                ignored.append({"path": path, "reason": str(exc)})
                continue
            problem = None
            if _sha(raw) != listed[path]:
                problem = "it no longer matches its review manifest"
            elif attestation["date"] != review_date or not attestation["snapshot"]["path"].startswith(
                    reports_folder(review_date) + "/"):
                problem = f"it reviews {attestation['date']} but is filed under {review_date}"
            if problem:
                ignored.append({"path": path, "reason": problem})
                continue
            signature = self._signature_check(path, raw, trusted).state if trusted is not None else None
            return {**attestation, "date": review_date, "path": path, "signature": signature, "ignored": ignored}
        return None

    def verify(self, date: Any, trusted: TrustedKey | None = None, to: Any = None, **options: Any) -> Any:
        """Verify one day (or the range `date`..`to`); see `evidence/verify.py`. Returns a
        `DayVerification` for one day, a `RangeVerification` for a range."""
        from aircall_pipeline.evidence.verify import verify_range

        result = verify_range(self, check_date(date), check_date(to) if to is not None else None, trusted,
                              **options)
        return result if to is not None else result.days[0]


@dataclass(frozen=True)
class Sealed:
    """One sealed attempt as read: its number, path, exact bytes and parsed content."""

    number: int
    path: str
    raw: bytes
    data: dict[str, Any]


@dataclass(frozen=True)
class PriorAttempt:
    link: dict[str, Any]
    artifacts: list[Artifact]
    rejected: list[dict[str, Any]]  # what it recorded as rejected when it was sealed


def attempt_reason(prior: list[Artifact] | None, listed: list[Artifact]) -> dict[str, Any]:
    """Why this attempt was written, for the auditor reading the chain."""
    if prior is None:
        return {"kind": "first", "text": "first sealed attempt of this day", "changed_tables": []}
    before = {posixpath.basename(posixpath.dirname(posixpath.dirname(a.path))): a.sha256 for a in prior
              if a.path.endswith(".parquet")}
    now = {posixpath.basename(posixpath.dirname(posixpath.dirname(a.path))): a.sha256 for a in listed
           if a.path.endswith(".parquet")}
    changed = sorted(t for t in now if before.get(t) != now[t])
    if not changed:
        return {"kind": "rerun", "text": "rerun over the same data (new run, same tables)", "changed_tables": []}
    return {
        "kind": "changed_data",
        "text": f"new data since the previous attempt: {', '.join(changed)}",
        "changed_tables": changed,
    }


def signing_note(signer: Signer | None, manifest_path: str, timestamped: bool = False) -> dict[str, Any]:
    if signer is None:
        return {
            "status": "unsigned",
            "note": "no EVIDENCE_SIGNING_KEY was configured: this manifest has no signature, so its "
            "authenticity cannot be proven",
        }
    return {
        "status": "signed",
        "algorithm": signer.algorithm,
        "key_fingerprint": signer.key_fingerprint,
        "signature_file": posixpath.basename(signature_path(manifest_path)),
        **({"timestamp_file": posixpath.basename(token_path(manifest_path))} if timestamped else {}),
    }
