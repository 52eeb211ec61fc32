"""The audit-period package: one signed zip of a period's verified evidence, for an auditor.

`build_package` verifies every day of the period against the trusted key first, and refuses (naming
the days) a period with a gap, an unsigned day, a day that does not verify, or one that reaches
beyond what the store holds. The zip then holds, at fixed paths::

    README.txt                       how to check the package offline (OpenSSL alone, or verify-package)
    package-manifest.json            every other member's path, size and SHA-256, and what the package is
    package-manifest.sig             its detached signature (the evidence signing key, statement format of
                                     signing.py, so scripts/check-signature.sh checks it as it checks a day)
    SHA256SUMS                       the members' hashes in `sha256sum -c` form (itself listed in the manifest)
    evidence/aircall/...             the period's reports, findings tables, access reviews, manifests,
                                     signatures and timestamp tokens as stored, at the same relative paths
                                     (raw and owner-input tables only with `with_tables`)
    oscal/assessment-results.json    one OSCAL Assessment Results document, one `Result` per day
    summary/controls.json|.md|.csv   control by control: days passed, failed, warned, skipped; open
                                     exceptions; open findings; the access reviews
    verify/verify.txt|verify.json    the `verify` transcript of the period against the trusted key
    key/public-key.pem, key/fingerprint.txt
    scripts/check-signature.sh
    sample.json                      with `sample`: the days picked for the auditor's sample, and the seed

The zip is written under a hidden temporary name in the target folder and published at the end with
a link (never over an existing file): a refused or failed build leaves nothing behind.

`verify_package` (package_verify.py) checks a package offline: the manifest's signature against the trusted key, every
member's size and hash, no member missing or added, no unsafe name (absolute, `..`, backslash,
duplicate, link or folder entry), bounded sizes; it reports and never raises for a bad package.

Modules: `package_layout.py` (member names, bounds), `package_summary.py` (the OSCAL document, the
control summary, the transcript), `package_verify.py`. Plain Python (no Dagster).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import date as date_cls
from pathlib import Path
from typing import Any

from aircall_pipeline.evidence.day_tables import FINDINGS_TABLES
from aircall_pipeline.evidence.errors import EvidenceStoreError
from aircall_pipeline.evidence.layout import (
    REPORTS,
    REVIEWS,
    ROOT,
    date_of_key,
    parse_attempt_name,
    redact_uri,
    reports_folder,
)
from aircall_pipeline.evidence.manifest import iso_utc, json_bytes
from aircall_pipeline.evidence.package_layout import (
    CHECK_SCRIPT,
    CHUNK,
    EVIDENCE,
    FIXED_TIME,
    FORMAT,
    MANIFEST,
    OSCAL,
    SCRIPT_SOURCE,
    SIGNATURE,
    STORED_EXTS,
    SUMS,
)
from aircall_pipeline.evidence.package_summary import (
    PackagedDay,
    control_summary,
    period_assessment_results,
    summary_csv,
    summary_markdown,
    transcript,
)
from aircall_pipeline.evidence.package_verify import PackageCheck, unsafe_name, verify_package
from aircall_pipeline.evidence.schemas import MAX_DOCUMENT_BYTES
from aircall_pipeline.evidence.signing import Signer, TrustedKey, sign_manifest
from aircall_pipeline.version import __version__

__all__ = [
    "MANIFEST",
    "OSCAL",
    "SIGNATURE",
    "Package",
    "PackageCheck",
    "PackageError",
    "build_package",
    "pick_sample",
    "unsafe_name",
    "verify_package",
]


class PackageError(Exception):
    """The package was not written. `refused`: the evidence does not allow it (exit 1); otherwise a
    usage or access error (exit 2). `days` names the days at fault."""

    def __init__(self, message: str, *, refused: bool = False, days: Iterable[str] = ()):
        super().__init__(message)
        self.refused = refused
        self.days = list(days)


@dataclass
class Package:
    path: Path
    days: list[str]
    members: int
    bytes: int
    sha256: str
    sample: list[str] | None = None
    seed: int | None = None


def _days(start: str, end: str) -> list[str]:
    first, last = date_cls.fromisoformat(start), date_cls.fromisoformat(end)
    return [date_cls.fromordinal(n).isoformat() for n in range(first.toordinal(), last.toordinal() + 1)]


def pick_sample(days: list[str], n: int, seed: int) -> list[str]:
    """The auditor's sample: `n` of `days`, the same for the same days and seed, oldest first."""
    if not 1 <= n <= len(days):
        raise PackageError(f"--sample {n}: the period has {len(days)} day(s); pick from 1 to {len(days)}")
    return sorted(random.Random(seed).sample(sorted(days), n))


def _temporary_zip(out: Path) -> tuple[Path, Any]:
    """A hidden temporary file beside `out` (same folder, so publishing it is a link, not a copy)."""
    folder = out.parent
    if out.exists() or out.is_symlink():
        raise PackageError(f"{out} already exists: a package is never written over a file; choose another name")
    if not folder.is_dir():
        raise PackageError(f"cannot write {out}: {folder} is not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=folder)
    except OSError as exc:
        raise PackageError(f"cannot write {out}: {exc.strerror or exc} (the folder is not writable)") from None
    return Path(name), os.fdopen(fd, "w+b")


def _publish(tmp: Path, out: Path) -> None:
    try:
        os.link(tmp, out)  # fails if `out` appeared meanwhile: never replaces a file
    except FileExistsError:
        raise PackageError(f"{out} appeared while the package was built; it was left as it is") from None
    except OSError:
        if out.exists():
            raise PackageError(f"{out} appeared while the package was built; it was left as it is") from None
        os.rename(tmp, out)  # a file system without hard links
        return
    tmp.unlink()


class _Writer:
    """Members written into the zip, each hashed as it is written, in a fixed order of calls."""

    def __init__(self, fh: Any):
        self.zip = zipfile.ZipFile(fh, "w", allowZip64=True)
        self.members: list[dict[str, Any]] = []

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
        info.compress_type = zipfile.ZIP_STORED if name.endswith(STORED_EXTS) else zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        return info

    def add(self, name: str, data: bytes) -> None:
        self.stream(name, [data])

    def stream(self, name: str, chunks: Iterable[bytes], *, listed: bool = True) -> str:
        digest, size = hashlib.sha256(), 0
        with self.zip.open(self._info(name), "w", force_zip64=True) as fh:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                fh.write(chunk)
        sha = digest.hexdigest()
        if listed:
            self.members.append({"path": name, "bytes": size, "sha256": sha})
        return sha


def _refuse_unverified(result: Any, days: list[str], held: list[str]) -> None:
    missing = [d for d in days if d not in set(held)]
    bad = []
    for v in result.days:
        if v.authenticated:
            continue
        unsigned = any(a.signature in ("UNSIGNED", "FORGED (missing)") for a in v.attempts)
        why = ("unsigned: a manifest has no signature by the trusted key" if unsigned else "a gap: never sealed" if v.date in missing
               else (v.problems or [f.status + " " + f.path for f in v.files if not f.ok] or [v.verdict()])[0])
        bad.append((v.date, why))
    if bad or result.stray:
        lines = [f"  {day}: {why}" for day, why in bad] + [f"  {line}" for line in result.stray[:20]]
        raise PackageError(
            f"refused: {len(bad)} day(s) of {days[0]}..{days[-1]} do not verify against the trusted key"
            + (f", and {len(result.stray)} object(s) belong to no day" if result.stray else "")
            + ":\n" + "\n".join(lines)
            + "\nRun `aircall-pipeline verify` on them; a package is only built over verified days.",
            refused=True, days=[d for d, _ in bad])


def _document(store: Any, path: str, expected: str | None) -> bytes:
    raw = store.backend.get(path, limit=MAX_DOCUMENT_BYTES)
    if expected is not None and hashlib.sha256(raw).hexdigest() != expected:
        raise PackageError(f"refused: {path} changed after it was verified", refused=True,
                           days=[date_of_key(path) or "?"])
    return raw


def _listed(manifest: dict[str, Any], folder: str, stem: str, ext: str) -> dict[str, Any] | None:
    for artifact in manifest.get("artifacts", []):
        path = str(artifact.get("path", ""))
        parsed = parse_attempt_name(path[len(folder) + 1:]) if path.startswith(folder + "/") else None
        if parsed and parsed[0] == stem and parsed[2] == ext:
            return artifact
    return None


def _read_day(store: Any, v: Any) -> PackagedDay:
    day = PackagedDay(v.date, v)
    folder = reports_folder(v.date)
    day.manifest = json.loads(_document(store, v.manifest_path, v.manifest_sha256))
    checks = _listed(day.manifest, folder, "checks", "json")
    if checks is not None:
        day.checks = json.loads(_document(store, checks["path"], checks["sha256"]))
    oscal = _listed(day.manifest, folder, "assessment-results", "json")
    if oscal is not None:
        day.oscal_path = oscal["path"]
        day.oscal = json.loads(_document(store, oscal["path"], oscal["sha256"]))
    return day


def _in_package(key: str, with_tables: bool) -> bool:
    """Whether an evidence file of a packaged day goes into the package."""
    folder = key.split("/")[1]
    return folder in (REPORTS, REVIEWS) or folder in FINDINGS_TABLES or with_tables


def _expected_hashes(result: Any) -> dict[str, str]:
    expected = {}
    for v in result.days:
        expected.update({f.path: f.expected.sha256 for f in v.files if f.expected is not None})
        expected.update({a.path: a.sha256 for a in v.attempts if a.sha256})
    return expected


def _copy_evidence(store: Any, writer: _Writer, keys: list[str], expected: dict[str, str]) -> None:
    for key in keys:
        _, chunks = store.backend.read(key)
        sha = writer.stream(f"{EVIDENCE}/{key}", chunks)
        if key in expected and expected[key] != sha:
            raise PackageError(f"refused: {key} changed after it was verified (sha256 {sha[:16]}…, verified "
                               f"{expected[key][:16]}…)", refused=True, days=[date_of_key(key) or "?"])


# ---- the README -------------------------------------------------------------------------------

README = """\
Aircall compliance evidence: audit package {start} to {end}
{rule}

Built {created} by aircall_pipeline {version} from {evidence}.
Days: {count} ({start} .. {end}), each verified against the trusted key before packaging
(verify/verify.txt). Signing key: {fingerprint} (key/public-key.pem).

What is here
  evidence/aircall/...           the days as stored: reports (HTML, PDF, checks.json, OSCAL,
                                 records.jsonl), findings tables, access reviews, every manifest
                                 attempt with its signature (.sig) and timestamp token (.tsr).{tables}
  oscal/assessment-results.json  the period as one OSCAL Assessment Results document, one Result
                                 per day (ServiceNow, RegScale, Xacta, Paramify import it)
  summary/controls.md|csv|json   control by control: days passed / failed / warned / skipped,
                                 open exceptions, open findings, access reviews
  verify/verify.txt|json         the verification of every day, as `aircall-pipeline verify` printed it
  sample.json                    (when present) the days drawn for your sample and the seed
  package-manifest.json          every member's path, size and SHA-256; signed in package-manifest.sig
  SHA256SUMS                     the same hashes for `sha256sum -c`

Check it with OpenSSL alone (unzip first; nothing here needs the project):
  unzip -d pkg {name} && cd pkg
  1. The package manifest's signature (the statement signed is
     "aircall-evidence-signature/1\\npackage-manifest.json\\n<bytes>\\n<sha256>\\n"):
       sh scripts/check-signature.sh . package-manifest.json key/public-key.pem
  2. SHA256SUMS is the one the signed manifest lists:
       openssl dgst -sha256 -r SHA256SUMS ; grep -A2 '"path": "SHA256SUMS"' package-manifest.json
  3. Every member against SHA256SUMS:
       sha256sum -c SHA256SUMS       (or, OpenSSL only:
       while read -r h f; do [ "$(openssl dgst -sha256 -r "$f" | cut -d' ' -f1)" = "$h" ] || echo "BAD $f"; done < SHA256SUMS)
     and no file beyond those listed: find . -type f | wc -l  gives the listed count + 2 ({total}).
  4. Any day's own manifest, as sealed:
       sh scripts/check-signature.sh evidence aircall/reports/date={start}/manifest.json key/public-key.pem

Or with the project:  aircall-pipeline verify-package {name} --public-key key/public-key.pem
(checks the signature, every member's hash and size, and that no member is missing or added).

Use a public key you obtained from the evidence owner yourself: key/public-key.pem only tells you
which key signed, and its fingerprint must match the one you were given.
"""


# ---- the build --------------------------------------------------------------------------------


def build_package(
    store: Any, start: str, end: str, out: str | os.PathLike[str], *, signer: Signer, trusted: TrustedKey,
    with_tables: bool = False, sample: int | None = None, seed: int | None = None, now: datetime | None = None,
) -> Package:
    """Write the package of `start`..`end` to `out`; raises PackageError (and leaves no file) when it is
    refused or cannot be written."""
    from aircall_pipeline.evidence.layout import check_date
    from aircall_pipeline.evidence.verify import verify_range

    now = now or datetime.now(UTC)
    try:
        start, end = check_date(start), check_date(end)
    except EvidenceStoreError as exc:
        raise PackageError(str(exc)) from None
    if end < start:
        raise PackageError(f"--to {end} is before --from {start}")
    if signer.key_fingerprint != trusted.key_fingerprint:
        raise PackageError(f"the signing key ({signer.key_fingerprint}) is not the trusted key "
                           f"({trusted.key_fingerprint}): an auditor could not check the package with it")
    days = _days(start, end)
    sampled = pick_sample(days, sample, seed if seed is not None else 0) if sample is not None else None
    out = Path(out)
    tmp, fh = _temporary_zip(out)
    writer: _Writer | None = None
    try:
        held = store.report_dates()
        if not held or start < held[0] or end > held[-1]:
            raise PackageError(
                f"refused: the period {start}..{end} is longer than the evidence holds "
                f"({held[0] + '..' + held[-1] if held else 'no sealed day'} in {redact_uri(store.uri)})",
                refused=True, days=[d for d in days if not held or d < held[0] or d > held[-1]])
        result = verify_range(store, start, end, trusted, now=now)
        _refuse_unverified(result, days, held)
        packaged = [_read_day(store, v) for v in result.days]
        table_days = set(sampled) if sampled is not None else set(days)
        keys = sorted(key for key, kind in store.backend.entries(ROOT)
                      if kind == "file" and date_of_key(key) in set(days)
                      and _in_package(key, with_tables and date_of_key(key) in table_days))
        writer = _Writer(fh)
        _copy_evidence(store, writer, keys, _expected_hashes(result))
        writer.add(OSCAL, json_bytes(period_assessment_results(packaged, start, end, now)))
        summary = control_summary(store, packaged, trusted, sampled)
        writer.add("summary/controls.json", json_bytes(summary))
        writer.add("summary/controls.md", summary_markdown(summary).encode("utf-8"))
        writer.add("summary/controls.csv", summary_csv(summary))
        text, data = transcript(result, start, end, trusted)
        writer.add("verify/verify.txt", text)
        writer.add("verify/verify.json", data)
        from cryptography.hazmat.primitives import serialization

        pem = trusted.public_key.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        writer.add("key/public-key.pem", pem)
        writer.add("key/fingerprint.txt", f"{trusted.key_fingerprint}\n".encode())
        try:
            writer.add(CHECK_SCRIPT, SCRIPT_SOURCE.read_bytes())
        except OSError as exc:
            raise PackageError(f"cannot read {SCRIPT_SOURCE} ({exc.strerror}): the package ships it") from None
        if sampled is not None:
            writer.add("sample.json", json_bytes({
                "method": "random.Random(seed).sample(sorted(days), n), listed oldest first (Python 3)",
                "seed": seed if seed is not None else 0, "n": sample, "population": days, "sample": sampled}))
        readme = README.format(
            start=start, end=end, rule="=" * len(f"Aircall compliance evidence: audit package {start} to {end}"),
            created=iso_utc(now), version=__version__, evidence=redact_uri(store.uri),
            count=len(days), fingerprint=trusted.key_fingerprint, name=out.name,
            tables="" if with_tables else "\n                                 Raw and owner-input tables: not "
                                          "included (--with-tables).",
            total=len(writer.members) + 4)
        writer.add("README.txt", readme.encode("utf-8"))
        writer.add(SUMS, "".join(f"{m['sha256']}  {m['path']}\n" for m in writer.members).encode("utf-8"))
        manifest = json_bytes({
            "format": FORMAT, "created_at": iso_utc(now), "package_version": __version__,
            "evidence": redact_uri(store.uri), "from": start, "to": end, "days": days,
            "with_tables": with_tables, "sample": sampled, "seed": seed if sampled is not None else None,
            "key_fingerprint": trusted.key_fingerprint,
            "day_manifests": [{"date": v.date, "path": v.manifest_path, "sha256": v.manifest_sha256}
                              for v in result.days],
            "members": writer.members,
        })
        writer.stream(MANIFEST, [manifest], listed=False)
        writer.stream(SIGNATURE, [sign_manifest(signer, MANIFEST, manifest).to_json()], listed=False)
        writer.zip.close()
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        members = len(writer.members) + 2
        _publish(tmp, out)
    except BaseException:
        if writer is not None:
            try:
                writer.zip.close()
            except Exception:  # noqa: BLE001, S110 - the file is being thrown away
                pass
        fh.close()
        tmp.unlink(missing_ok=True)
        raise
    digest = hashlib.sha256()
    with out.open("rb") as published:
        while chunk := published.read(CHUNK):
            digest.update(chunk)
    return Package(out, days, members, out.stat().st_size, digest.hexdigest(), sampled,
                   seed if sampled is not None else None)
