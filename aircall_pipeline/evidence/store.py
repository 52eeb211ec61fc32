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
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from aircall_pipeline import __version__
from aircall_pipeline.evidence import backends
from aircall_pipeline.evidence.backends import (
    Backend,
    Blob,
    LocalBackend,
    ObjectInfo,
    Retention,
    S3Backend,
    default_s3_client,
)
from aircall_pipeline.evidence.errors import EvidenceStoreError, ObjectMissing
from aircall_pipeline.evidence.formats import arrow_table, count_csv_rows, csv_blob, parquet_bytes
from aircall_pipeline.evidence.layout import (
    DATE_FOLDER,
    REPORT_BASES,
    REPORTS,
    REVIEW_BASES,
    REVIEWS,
    ROOT,
    attempt_name,
    check_date,
    check_table,
    parse_attempt_name,
    parse_evidence_uri,
    reports_folder,
    reviews_folder,
    self_attempt,
    signature_path,
    table_folder,
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
from aircall_pipeline.evidence.report import render_report
from aircall_pipeline.evidence.signing import Signature, Signer, SigningError, TrustedKey, sign_manifest

__all__ = [
    "Artifact",
    "EvidenceStore",
    "EvidenceStoreError",
    "LocalBackend",
    "S3Backend",
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
        self, folder: str, bases: tuple[str, ...], build: Callable[[int], list[tuple[str, bytes | Blob]]]
    ) -> tuple[int, bool]:
        """Write one attempt's files, in order, never replacing anything.

        `build(n)` returns [(base name, bytes)] for attempt n. Returns (attempt, wrote_anything).
        The newest existing attempt is reused when each of its files is byte-identical to ours (and
        its missing files, left by an interrupted run, are added); otherwise the next free number is
        taken. Losing a race for a name moves on to the next number.
        """
        attempts = self._attempts(folder, bases)
        newest = max(attempts) if attempts else 0
        if newest:
            files = build(newest)
            present = attempts[newest]
            if all(
                self._same_content(self._key(folder, base, newest), data)
                for base, data in files
                if base in present
            ):
                wrote = False
                clean = True
                for base, data in files:
                    if base in present:
                        continue
                    key = self._key(folder, base, newest)
                    if self.backend.put_if_absent(key, data):
                        wrote = True
                    elif not self._same_content(key, data):
                        clean = False
                        break
                if clean:
                    return newest, wrote
        for number in range(newest + 1, newest + 1 + MAX_ATTEMPT_RACES):
            files = build(number)
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

    def write_table(self, table: str, date: Any, df: pd.DataFrame) -> list[Artifact]:
        """Store `df` as `<table>.parquet` + `<table>.csv` for `date`, write-once (see module doc).

        Returns the Parquet and CSV artifacts of the attempt that now holds this content.
        """
        table, date = check_table(table), check_date(date)
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
        if info.size <= backends.WHOLE_OBJECT_LIMIT:
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
            if len(parts) != 2 or not (m := DATE_FOLDER.match(parts[0])):
                continue
            parsed = parse_attempt_name(parts[1])
            if parsed and parsed[0] == table and parsed[2] in ("parquet", "csv"):
                by_date.setdefault(m[1], {}).setdefault(parsed[1], set()).add(parsed[2])
        return sorted(
            d
            for d, attempts in by_date.items()
            if any({"parquet", "csv"} <= exts for exts in attempts.values())
        )

    def full_uri(self, path: str) -> str:
        """The absolute location (local path or s3:// URI) of a root-relative path."""
        return self.backend.full_uri(path)

    # ---- hashing stored files ---------------------------------------------------------------

    def stored_object(self, path: str) -> tuple[Artifact, ObjectInfo]:
        """Re-read `path` from storage in one GET: its sha256, size and row count (Parquet footer, CSV
        records, number of checks in a checks JSON), and its lock state. Raises ObjectMissing."""
        digest, counter = hashlib.sha256(), [0]
        ext = path.rsplit(".", 1)[-1]
        info, raw = self.backend.read(path)
        chunks = _hashing(raw, digest, counter)
        rows: int | None = None
        parquet_data: bytes | None = None
        if ext == "parquet" and info.size <= backends.WHOLE_OBJECT_LIMIT:
            parquet_data = b"".join(chunks)  # small enough: read the footer from memory
        elif ext == "csv":
            rows = count_csv_rows(chunks)
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
                source = (
                    io.BytesIO(parquet_data) if parquet_data is not None else self.backend.open_seekable(path)
                )
                with source as fh:
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
    ) -> Manifest:
        """Write the day's checks.json, report.html and manifest.json, then the manifest's detached
        signature (write-once attempts, see the module doc).

        `checks`: dicts {id, name, status, observed, threshold, controls, reason, items: [...]}, status in
        pass|fail|warn|skip|error. `manifest_fields`: run_id, api_url, company, requests ({endpoint:
        {requests, rate_limited, retries}}), collected_at, plus any extra JSON-able fields to record.
        `tables`: every table that is part of the day; the newest attempt of each is re-read from storage
        and re-hashed for the manifest. Raises EvidenceStoreError (and writes nothing) when any is missing.
        `judged`: table -> {path, sha256} of the file the checks evaluated; the report refuses
        (kind `not_judged`) when the newest attempt of such a table is another file, so a manifest never
        lists data that no check judged. `signer`: signs the manifest; without one it is marked unsigned.
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
        previous = self._previous_manifest_link(date)
        checks_data = json_bytes(checks_norm)
        folder = reports_folder(date)
        company = manifest_fields.get("company")
        trusted_self = TrustedKey(signer.public_key, source="signer") if signer is not None else None
        built: dict[int, tuple[list[tuple[str, bytes]], dict[str, Any]]] = {}

        def build(number: int) -> list[tuple[str, bytes]]:
            if number not in built:
                checks_path = self._key(folder, "checks.json", number)
                report_path = self._key(folder, "report.html", number)
                html_data = render_report(
                    date=date,
                    company=company,
                    collected_at=manifest_fields.get("collected_at")
                    and _iso(manifest_fields["collected_at"]),
                    run_id=manifest_fields.get("run_id"),
                    package_version=__version__,
                    api_url=manifest_fields.get("api_url"),
                    checks=[{**c, "findings_table": _findings_table(c)} for c in checks_norm],
                    tables=table_artifacts,
                    report_dir=folder,
                    checks_path=checks_path,
                    attempt=number,
                ).encode("utf-8")
                artifacts = listed + [
                    Artifact(checks_path, _sha(checks_data), len(checks_data), len(checks_norm)),
                    Artifact(report_path, _sha(html_data), len(html_data), None),
                ]
                own = {a.path for a in artifacts} | {
                    self._key(folder, "manifest.json", number),
                    signature_path(self._key(folder, "manifest.json", number)),
                }
                prior = self._prior_attempt(folder, number, trusted_self)
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
                        signing=signing_note(signer, self._key(folder, "manifest.json", number)),
                        sealed_at=self.clock(),
                    )
                except ValueError as exc:
                    raise EvidenceStoreError(
                        f"the {date} report was not written: {exc}", kind="invalid_input"
                    ) from None
                built[number] = (
                    [
                        ("checks.json", checks_data),
                        ("report.html", html_data),
                        ("manifest.json", json_bytes(data)),
                    ],
                    data,
                )
            return built[number][0]

        number, wrote = self._write_attempt(folder, REPORT_BASES, build)
        files, data = built[number]
        manifest_bytes = files[2][1]
        path = self._key(folder, "manifest.json", number)
        if signer is not None:
            # Written after the manifest: a failure here leaves the attempt unsigned, which `verify`
            # reports, never a manifest that looks signed.
            signature = sign_manifest(signer, path, manifest_bytes)
            self.backend.put_if_absent(signature_path(path), signature.to_json())
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
        )

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
        self, folder: str, number: int, trusted: TrustedKey | None, bases: tuple[str, ...] = REPORT_BASES
    ) -> PriorAttempt | None:
        """The newest sealed attempt below `number` in `folder`: what attempt `number` chains to."""
        attempts = self._attempts(folder, bases)
        below = [n for n, names in attempts.items() if n < number and "manifest.json" in names]
        if not below:
            return None
        path = self._key(folder, "manifest.json", max(below))
        raw = self.backend.get(path)
        try:
            artifacts = [Artifact.from_dict(a) for a in json.loads(raw).get("artifacts", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            artifacts = []
        link = {"path": path, "sha256": _sha(raw), "bytes": len(raw), "attempt": max(below)}
        if trusted is not None:
            link["signature"] = self._signature_state(path, raw, trusted)
        return PriorAttempt(link, artifacts)

    def _signature_state(self, path: str, raw: bytes, trusted: TrustedKey) -> str:
        """valid | missing | invalid: the prior attempt's signature, checked with our own key when sealing."""
        try:
            signature = Signature.from_json(self.backend.get(signature_path(path)))
        except ObjectMissing:
            return "missing"
        except SigningError:
            return "invalid"
        if signature.path != path or signature.sha256 != _sha(raw):
            return "invalid"
        try:
            trusted.verify(signature)
        except SigningError:
            return "invalid"
        return "valid"

    def _other_files(self, date: str, tables: list[str], own: set[str]) -> list[dict[str, Any]]:
        """Every other file in the day's folders when sealing (earlier attempts, interrupted runs),
        hashed, so that the newest manifest accounts for everything and a file added later stands out."""
        keys = [k for t in tables for k in self.backend.list(table_folder(t, date))]
        keys += self.backend.list(reports_folder(date))
        return [self.stored_artifact(k).as_dict() for k in sorted(set(keys) - own)]

    def _report_dates(self) -> dict[str, dict[int, set[str]]]:
        """Every report date -> attempt number -> base names present."""
        prefix = f"{ROOT}/{REPORTS}"
        out: dict[str, dict[int, set[str]]] = {}
        for key in self.backend.list(prefix):
            parts = key[len(prefix) + 1 :].split("/")
            if len(parts) != 2 or not (m := DATE_FOLDER.match(parts[0])):
                continue
            parsed = parse_attempt_name(parts[1])
            if parsed and f"{parsed[0]}.{parsed[2]}" in REPORT_BASES:
                out.setdefault(m[1], {}).setdefault(parsed[1], set()).add(f"{parsed[0]}.{parsed[2]}")
        return out

    def _manifest_path(self, date: str, attempts: dict[int, set[str]] | None = None) -> str | None:
        folder = reports_folder(date)
        if attempts is None:
            attempts = self._attempts(folder, REPORT_BASES)
        numbers = [n for n, names in attempts.items() if "manifest.json" in names]
        return self._key(folder, "manifest.json", max(numbers)) if numbers else None

    def _previous_manifest_link(self, date: str) -> dict[str, Any] | None:
        """The day-to-day link: the newest attempt, at this moment, of the most recent earlier sealed day."""
        for earlier, attempts in sorted(self._report_dates().items(), reverse=True):
            if earlier >= date:
                continue
            path = self._manifest_path(earlier, attempts)
            if path:
                stored = self.stored_artifact(path)
                return {
                    "path": stored.path,
                    "sha256": stored.sha256,
                    "bytes": stored.bytes,
                    "date": earlier,
                    "attempt": self_attempt(path),
                }
        return None

    def report_dates(self) -> list[str]:
        """Dates (oldest first) that have a manifest, i.e. a complete day of evidence."""
        return sorted(
            d
            for d, attempts in self._report_dates().items()
            if any("manifest.json" in names for names in attempts.values())
        )

    def read_manifest(self, date: Any) -> Manifest | None:
        """The day's evidence index: its newest manifest, or None when the day has no manifest."""
        date = check_date(date)
        path = self._manifest_path(date)
        if path is None:
            return None
        raw = self.backend.get(path)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise EvidenceStoreError(
                f"{self.backend.full_uri(path)} is not valid JSON: {exc}", kind="storage"
            ) from None
        return Manifest(
            data=data, path=path, sha256=_sha(raw), uri=self.backend.full_uri(path), bytes=len(raw)
        )

    # ---- access reviews (AC-16) ------------------------------------------------------------

    def write_review(
        self, date: Any, review: pd.DataFrame, attestation: dict[str, Any], signer: Signer
    ) -> Manifest:
        """Store a completed access review of `date` under `aircall/reviews/date=D/`: review.parquet,
        review.csv, attestation.json and a review manifest listing them, then the signatures of the
        attestation and of the manifest (write-once attempts, like reports)."""
        date = check_date(date)
        folder = reviews_folder(date)
        arrow = arrow_table(review)
        parquet = parquet_bytes(arrow)
        csv_data = csv_blob(arrow).bytes()
        attestation_data = json_bytes(attestation)
        built: dict[int, tuple[list[tuple[str, bytes]], dict[str, Any]]] = {}

        def build(number: int) -> list[tuple[str, bytes]]:
            if number not in built:
                files = [("review.parquet", parquet), ("review.csv", csv_data), ("attestation.json", attestation_data)]
                artifacts = [
                    Artifact(self._key(folder, base, number), _sha(data), len(data),
                             arrow.num_rows if base.startswith("review.") else None)
                    for base, data in files
                ]
                prior = self._prior_attempt(folder, number, TrustedKey(signer.public_key, source="signer"),
                                            bases=REVIEW_BASES)
                data = to_jsonable({
                    "manifest_version": MANIFEST_VERSION,
                    "kind": "access_review",
                    "date": date,
                    "attempt": number,
                    "artifacts": [a.as_dict() for a in artifacts],
                    "snapshot": attestation.get("snapshot"),
                    "previous_attempt": prior.link if prior else None,
                    "signing": signing_note(signer, self._key(folder, "manifest.json", number)),
                    "sealed_at": iso_utc(self.clock()),
                })
                built[number] = (files + [("manifest.json", json_bytes(data))], data)
            return built[number][0]

        number, _ = self._write_attempt(folder, REVIEW_BASES, build)
        files, data = built[number]
        for base, content in files:
            if base in ("attestation.json", "manifest.json"):
                path = self._key(folder, base, number)
                self.backend.put_if_absent(signature_path(path), sign_manifest(signer, path, content).to_json())
        manifest_bytes = files[-1][1]
        path = self._key(folder, "manifest.json", number)
        return Manifest(data=data, path=path, sha256=_sha(manifest_bytes), uri=self.backend.full_uri(path),
                        bytes=len(manifest_bytes))

    def review_dates(self) -> list[str]:
        prefix = f"{ROOT}/{REVIEWS}"
        dates = set()
        for key in self.backend.list(prefix):
            parts = key[len(prefix) + 1:].split("/")
            if len(parts) == 2 and (m := DATE_FOLDER.match(parts[0])) and parts[1].startswith("manifest."):
                dates.add(m[1])
        return sorted(dates)

    def latest_review(self, on_or_before: Any, trusted: TrustedKey | None) -> dict[str, Any] | None:
        """The newest review attestation of a day on or before `on_or_before`, with `date`, `path` and
        `signature` (valid | missing | invalid against `trusted`, or None when no key is given)."""
        day = check_date(on_or_before)
        for review_date in reversed([d for d in self.review_dates() if d <= day]):
            folder = reviews_folder(review_date)
            attempts = self._attempts(folder, REVIEW_BASES)
            sealed = [n for n, names in attempts.items() if {"manifest.json", "attestation.json"} <= names]
            if not sealed:
                continue
            path = self._key(folder, "attestation.json", max(sealed))
            raw = self.backend.get(path)
            try:
                attestation = json.loads(raw)
            except ValueError:
                attestation = {}
            signature = self._signature_state(path, raw, trusted) if trusted is not None else None
            return {**attestation, "date": review_date, "path": path, "signature": signature}
        return None

    def verify(self, date: Any, trusted: TrustedKey | None = None, to: Any = None) -> Any:
        """Verify one day (or the range `date`..`to`); see `evidence/verify.py`. Returns a
        `DayVerification` for one day, a `RangeVerification` for a range."""
        from aircall_pipeline.evidence.verify import verify_range

        result = verify_range(self, check_date(date), check_date(to) if to is not None else None, trusted)
        return result if to is not None else result.days[0]


@dataclass(frozen=True)
class PriorAttempt:
    link: dict[str, Any]
    artifacts: list[Artifact]


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


def signing_note(signer: Signer | None, manifest_path: str) -> dict[str, Any]:
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
    }
