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

`verify_package` checks a package offline: the manifest's signature against the trusted key, every
member's size and hash, no member missing or added, no unsafe name (absolute, `..`, backslash,
duplicate, link or folder entry), bounded sizes; it reports and never raises for a bad package.

Plain Python (no Dagster).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import posixpath
import random
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import date as date_cls
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from aircall_pipeline import __version__
from aircall_pipeline.compliance.oscal.assessment import control_state, stable_uuid
from aircall_pipeline.compliance.oscal.controls import control
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
from aircall_pipeline.evidence.schemas import MAX_DOCUMENT_BYTES
from aircall_pipeline.evidence.signing import Signer, TrustedKey, check_signature, sign_manifest
from aircall_pipeline.names import FINDINGS_TABLES, OWNER_POLICY

FORMAT = "aircall-audit-package/1"
MANIFEST = "package-manifest.json"
SIGNATURE = "package-manifest.sig"
SUMS = "SHA256SUMS"
EVIDENCE = "evidence"
OSCAL = "oscal/assessment-results.json"
CHECK_SCRIPT = "scripts/check-signature.sh"
SCRIPT_SOURCE = Path(__file__).resolve().parents[2] / "scripts" / "check-signature.sh"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip member times: the same inputs give the same members
# What verify-package reads at most: far above any real package, low enough that a hostile zip
# cannot make it read for ever or fill the memory.
MAX_MEMBERS = 200_000
MAX_MEMBER_BYTES = 8 * 2**30
MAX_TOTAL_BYTES = 64 * 2**30
MAX_MANIFEST_BYTES = 64 * 2**20
CHUNK = 1 << 20
STORED_EXTS = (".parquet", ".pdf", ".tsr", ".zip")  # already compressed: stored as they are


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


# --------------------------------------------------------------------------------------------------
# Building


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


@dataclass
class _Day:
    date: str
    verification: Any
    manifest: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    oscal: dict[str, Any] | None = None
    oscal_path: str | None = None


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


def _read_day(store: Any, v: Any) -> _Day:
    day = _Day(v.date, v)
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


# ---- the period's OSCAL document -------------------------------------------------------------


def _rebase_hrefs(node: Any, day_folder: str, doc_folder: str) -> None:
    """Relative `href`s of a day's document (relative to its report folder) made relative to the
    package document, so that they resolve inside the unzipped package."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "href" and isinstance(value, str) and not value.startswith(("#", "/")) and ":" not in value:
                target = posixpath.normpath(posixpath.join(EVIDENCE, day_folder, unquote(value)))
                node[key] = quote(posixpath.relpath(target, doc_folder), safe="/=")
            else:
                _rebase_hrefs(value, day_folder, doc_folder)
    elif isinstance(node, list):
        for item in node:
            _rebase_hrefs(item, day_folder, doc_folder)


def _fallback_result(day: _Day) -> dict[str, Any]:
    """A day sealed before the platform files (manifest version < 4): its checks as a Result, built by
    the per-day builder from the sealed checks.json."""
    from datetime import timedelta

    from aircall_pipeline.compliance.oscal.assessment import assessment_results, document_bytes

    sealed = datetime.fromisoformat(str(day.manifest.get("sealed_at", "")).replace("Z", "+00:00") or
                                    f"{day.date}T23:59:59+00:00")
    sealed = sealed if sealed.tzinfo else sealed.replace(tzinfo=UTC)
    document = assessment_results(
        day=day.date, attempt=int(day.manifest.get("attempt", 1)), checks=day.checks, findings_tables={},
        report_dir=reports_folder(day.date), manifest_path=day.verification.manifest_path,
        company=day.manifest.get("company"), package_version=str(day.manifest.get("package_version", "")),
        collected_at=sealed, sealed_at=sealed, fresh_for=timedelta(hours=30))
    return json.loads(document_bytes(document))["assessment-results"]


def period_assessment_results(days: list[_Day], start: str, end: str, now: datetime) -> dict[str, Any]:
    """One Assessment Results document for the period: each day's sealed `Result` as it was signed
    (hrefs rebased into the package), or built from checks.json for a day sealed before OSCAL."""
    from trestle.oscal import OSCAL_VERSION
    from trestle.oscal.assessment_results import AssessmentResults

    results = []
    for day in days:
        document = day.oscal["assessment-results"] if day.oscal else _fallback_result(day)
        for result in document["results"]:
            result = json.loads(json.dumps(result))
            _rebase_hrefs(result, reports_folder(day.date), posixpath.dirname(OSCAL))
            results.append(result)
    plan = stable_uuid(start, end, "period-assessment-plan")
    body = {
        "uuid": stable_uuid(start, end, "period-assessment-results"),
        "metadata": {"title": f"Aircall compliance evidence {start} to {end}", "last-modified": iso_utc(now),
                     "version": f"{start}..{end}", "oscal-version": OSCAL_VERSION},
        "import-ap": {"href": f"#{plan}"},
        "results": results,
        "back-matter": {"resources": [{
            "uuid": plan, "title": f"aircall_pipeline {__version__} check catalogue",
            "description": "The assessment plan: every check of the pipeline's catalogue, run daily; each "
                           "Result is one sealed day, as its signed assessment-results.json holds it."}]},
    }
    # Validated by trestle's models: a document the OSCAL schema refuses is never packaged.
    return AssessmentResults.model_validate(body).oscal_dict()


# ---- the control-by-control summary ----------------------------------------------------------


def _day_outcome(statuses: list[str]) -> str:
    state, reason = control_state(statuses)
    if reason == "pass":
        return "passed"
    if reason == "fail":
        return "failed"
    return "warned" if "warn" in statuses else "skipped"


def _exceptions(store: Any, last: str) -> dict[str, Any]:
    from aircall_pipeline.compliance.owner_inputs import sealed_policy

    out: dict[str, Any] = {"as_of": last, "source": f"{ROOT}/{OWNER_POLICY}/date={last}", "exceptions": []}
    try:
        policy = sealed_policy(store.read_table(OWNER_POLICY, last))
    except Exception as exc:  # noqa: BLE001 - a summary line, not a reason to refuse the package
        out["note"] = f"the sealed policy of {last} could not be read ({type(exc).__name__}: {exc})"
        return out
    out["exceptions"] = [{"email": email, "owner": e.owner, "reason": e.reason}
                         for email, e in sorted(policy.exceptions.items())]
    return out


def control_summary(store: Any, days: list[_Day], trusted: TrustedKey, sample: list[str] | None) -> dict[str, Any]:
    by_control: dict[str, dict[str, Any]] = {}
    by_check: dict[str, dict[str, Any]] = {}
    for day in days:
        mapped: dict[str, list[dict[str, Any]]] = {}
        for check in day.checks:
            row = by_check.setdefault(str(check["id"]), {"check": str(check["id"]), "name": check.get("name"),
                                                         "pass": 0, "fail": 0, "warn": 0, "skip": 0, "error": 0})
            row[str(check["status"])] = row.get(str(check["status"]), 0) + 1
            for mapping in dict.fromkeys(map(str, check.get("controls") or [])):
                mapped.setdefault(mapping, []).append(check)
        for mapping, checks in mapped.items():
            entry = control(mapping)
            row = by_control.setdefault(mapping, {
                "control": mapping, "id": entry["id"], "framework": entry["framework_title"], "title": entry["title"],
                "checks": [], "days": 0, "passed": 0, "failed": 0, "warned": 0, "skipped": 0, "failed_days": []})
            row["checks"] = sorted(set(row["checks"]) | {str(c["id"]) for c in checks})
            outcome = _day_outcome([str(c["status"]) for c in checks])
            row["days"] += 1
            row[outcome] += 1
            if outcome == "failed":
                row["failed_days"].append(day.date)
    last = days[-1]
    reviews = [d for d in store.review_dates() if days[0].date <= d <= last.date]
    latest = store.latest_review(last.date, trusted)
    return {
        "period": {"from": days[0].date, "to": last.date, "days": len(days)},
        "controls": [by_control[k] for k in sorted(by_control, key=lambda m: control(m)["id"])],
        "checks": [by_check[k] for k in sorted(by_check)],
        "open_exceptions": _exceptions(store, last.date),
        "open_findings": [{"check": str(c["id"]), "name": c.get("name"), "status": c["status"],
                           "reason": c.get("reason"), "date": last.date}
                          for c in last.checks if c["status"] != "pass"],
        "access_reviews": {
            "in_period": reviews,
            "latest": None if latest is None else {"date": latest["date"], "path": latest["path"],
                                                   "signature": latest.get("signature")},
        },
        "sample": sample,
    }


def summary_markdown(summary: dict[str, Any]) -> str:
    p = summary["period"]
    lines = [f"# Controls, {p['from']} to {p['to']} ({p['days']} day{'s' if p['days'] != 1 else ''})", "",
             "| control | framework | title | days | passed | failed | warned | skipped | failed on |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for c in summary["controls"]:
        failed = ", ".join(c["failed_days"][:10]) + (" …" if len(c["failed_days"]) > 10 else "")
        lines.append(f"| {c['control']} | {c['framework']} | {c['title']} | {c['days']} | {c['passed']} | "
                     f"{c['failed']} | {c['warned']} | {c['skipped']} | {failed} |")
    ex = summary["open_exceptions"]
    lines += ["", f"## Open exceptions (policy of {ex['as_of']})", ""]
    lines += [f"- {e['email']}: owner {e['owner']}, {e['reason']}" for e in ex["exceptions"]] or [
        f"- none{' (' + ex['note'] + ')' if ex.get('note') else ''}"]
    lines += ["", f"## Open findings ({p['to']})", ""]
    lines += [f"- {f['check']} {f['name'] or ''}: {f['status']}" for f in summary["open_findings"]] or ["- none"]
    reviews = summary["access_reviews"]
    lines += ["", "## Access reviews", "", f"- in the period: {', '.join(reviews['in_period']) or 'none'}"]
    if reviews["latest"]:
        lines.append(f"- latest on or before {p['to']}: {reviews['latest']['date']} "
                     f"(signature {reviews['latest']['signature']})")
    if summary["sample"]:
        lines += ["", f"## Sample: {', '.join(summary['sample'])} (see sample.json)"]
    return "\n".join(lines) + "\n"


def summary_csv(summary: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["control", "id", "framework", "checks", "days", "passed", "failed", "warned", "skipped",
                     "failed_days"])
    for c in summary["controls"]:
        writer.writerow([c["control"], c["id"], c["framework"], " ".join(c["checks"]), c["days"], c["passed"],
                         c["failed"], c["warned"], c["skipped"], " ".join(c["failed_days"])])
    return out.getvalue().encode("utf-8")


# ---- the verify transcript, the README ---------------------------------------------------------


def transcript(result: Any, start: str, end: str, trusted: TrustedKey) -> tuple[bytes, bytes]:
    from aircall_pipeline.evidence.verify import shown

    head = [f"$ aircall-pipeline verify EVIDENCE_URI --date {start} --to {end} --public-key key/public-key.pem",
            f"# trusted key {trusted.key_fingerprint}", ""]
    text = "\n\n".join(v.summary() for v in result.days)
    good = sum(d.authenticated for d in result.days)
    tail = [shown(f"UNLISTED {line}") for line in result.stray]
    tail.append(f"range:    {good} of {len(result.days)} days valid ({start} .. {end})")
    data = {"from": start, "to": end, "trusted_key": trusted.key_fingerprint, "valid": result.authenticated,
            "days": [v.as_dict() for v in result.days], "stray": result.stray}
    return ("\n".join(head) + text + "\n\n" + "\n".join(tail) + "\n").encode("utf-8"), json_bytes(data)


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


# ---- the build ---------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Verifying


@dataclass
class PackageCheck:
    path: str
    trusted_key: str
    signature: str = "not checked"
    members: int = 0
    problems: list[str] = field(default_factory=list)
    period: str = ""

    @property
    def valid(self) -> bool:
        return self.signature == "valid" and not self.problems

    def lines(self) -> list[str]:
        from aircall_pipeline.evidence.verify import shown

        out = [f"package:  {self.path}", f"trusted:  {self.trusted_key}"]
        if self.period:
            out.append(f"period:   {self.period}")
        out.append(f"signature: {self.signature}")
        out += [f"problem:  {p}" for p in self.problems[:200]]
        if len(self.problems) > 200:
            out.append(f"problem:  … and {len(self.problems) - 200} more")
        out.append("verdict:  " + (f"VALID: {self.members} members, every one as the signed manifest lists it, "
                                   f"signed by the trusted key" if self.valid else
                                   f"NOT VERIFIED: {len(self.problems)} problem(s)"))
        return [shown(line) for line in out]

    def as_dict(self) -> dict[str, Any]:
        return {"package": self.path, "trusted_key": self.trusted_key, "signature": self.signature,
                "members": self.members, "period": self.period, "problems": self.problems, "valid": self.valid}


def unsafe_name(name: str) -> str | None:
    """Why a member name cannot be extracted safely, or None."""
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "an absolute or Windows path"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "a control character in the name"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a `..`, `.` or empty path component (or a folder entry)"
    return None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    with zf.open(info) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"larger than {cap} bytes")
    return data


def _member_hash(zf: zipfile.ZipFile, info: zipfile.ZipInfo, declared: int) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with zf.open(info) as fh:
        while chunk := fh.read(min(CHUNK, declared + 1 - size) or 1):
            digest.update(chunk)
            size += len(chunk)
            if size > declared:
                break
    return digest.hexdigest(), size


def verify_package(path: str | os.PathLike[str], trusted: TrustedKey) -> PackageCheck:
    """Check the package at `path` offline against `trusted`; never raises for what the file holds."""
    check = PackageCheck(str(path), trusted.key_fingerprint)
    try:
        _verify(Path(path), trusted, check)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, KeyError,
            NotImplementedError, RuntimeError) as exc:
        check.problems.append(f"the package cannot be read as a zip ({type(exc).__name__}: {exc})")
    except Exception as exc:  # noqa: BLE001 - the last guard: a verdict, never a traceback
        check.problems.append(f"INTERNAL ERROR ({type(exc).__name__}): the file is not a package this project "
                              "writes; please report it")
    return check


def _verify(path: Path, trusted: TrustedKey, check: PackageCheck) -> None:
    if not path.is_file() or path.is_symlink():
        raise OSError(f"{path} is not a regular file")
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            check.problems.append(f"{len(infos)} members: more than the {MAX_MEMBERS} a package may hold")
            return
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            why = unsafe_name(info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no type recorded (Python's writestr)
            if why is None and kind and kind != stat.S_IFREG:
                why = "not a regular file (a link, folder or device entry)"
            if why is None and info.filename in by_name:
                why = "a second member with the same name"
            if why is None and info.file_size > MAX_MEMBER_BYTES:
                why = f"larger than {MAX_MEMBER_BYTES} bytes"
            if why:
                check.problems.append(f"REFUSED member {info.filename!r}: {why}; nothing was extracted")
            else:
                by_name[info.filename] = info
        if check.problems:
            return
        if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
            check.problems.append(f"the members hold more than {MAX_TOTAL_BYTES} bytes")
            return
        if MANIFEST not in by_name:
            check.problems.append(f"MISSING {MANIFEST}: not a package")
            return
        if by_name[MANIFEST].file_size > MAX_MANIFEST_BYTES:
            check.problems.append(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
            return
        raw = _read_member(zf, by_name[MANIFEST], MAX_MANIFEST_BYTES)
        signature = _read_member(zf, by_name[SIGNATURE], MAX_DOCUMENT_BYTES) if SIGNATURE in by_name else None
        sig = check_signature(MANIFEST, raw, signature, trusted)
        check.signature = sig.state if sig.valid else f"{sig.state.upper()} ({sig.reason})"
        if not sig.valid:
            check.problems.append(f"the package manifest is not signed by the trusted key: {sig.reason}")
            return  # nothing it lists can be relied on
        manifest = json.loads(raw)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(
                manifest.get("members"), list):
            check.problems.append(f"{MANIFEST} is not a {FORMAT} manifest")
            return
        check.period = f"{manifest.get('from')} .. {manifest.get('to')} ({len(manifest.get('days') or [])} days)"
        listed: dict[str, dict[str, Any]] = {}
        for member in manifest["members"]:
            name = member.get("path") if isinstance(member, dict) else None
            if not isinstance(name, str) or unsafe_name(name) or name in listed or name in (MANIFEST, SIGNATURE):
                check.problems.append(f"the manifest lists an unusable member {name!r}")
                continue
            listed[name] = member
        for name in sorted(set(by_name) - set(listed) - {MANIFEST, SIGNATURE}):
            check.problems.append(f"UNLISTED {name}: in the package, but not in its signed manifest")
        for name in sorted(listed):
            member, info = listed[name], by_name.get(name)
            if info is None:
                check.problems.append(f"MISSING {name}: listed in the signed manifest, not in the package")
                continue
            declared = member.get("bytes")
            if not isinstance(declared, int) or info.file_size != declared:
                check.problems.append(f"ALTERED {name}: {info.file_size} bytes, the manifest says {declared}")
                continue
            try:
                sha, size = _member_hash(zf, info, declared)
            except (zipfile.BadZipFile, ValueError, EOFError, OSError, zlib_error()) as exc:
                check.problems.append(f"ALTERED {name}: cannot be read ({type(exc).__name__}: {exc})")
                continue
            if size != declared or sha != member.get("sha256"):
                check.problems.append(f"ALTERED {name}: sha256 {sha[:16]}…, the manifest says "
                                      f"{str(member.get('sha256'))[:16]}…")
        check.members = len(by_name)


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error
