"""Verification of sealed evidence, the way a third party does it (the model: CloudTrail `validate-logs`),
written as an adversary's parser: it never trusts a byte it reads.

Who it is checked against:

* a keyless insider who can put objects in the bucket: any manifest that is unsigned, signed by
  another key, malformed, or whose signature does not cover it, is FORGED (the pipeline writes the
  signature before the manifest, so it never leaves an unsigned manifest in a signed store); every
  object under a day's folders, at any depth, hidden or not, regular or not, is listed or UNLISTED;
* a holder of the signing key who re-seals history: every attempt's links are checked, not only the
  newest's (attempt chain, day chain, `sealed_at` increasing, after the day ended, and before the
  next day's first attempt), a manifest must list the day's required tables and its checks.json and
  summarise it exactly, and every re-seal is listed with what it changed (`--strict` fails on any
  that changed a check's result). Only a timestamp token from an independent TSA proves *when*: each
  attempt's token is checked offline against the statement its signature covers, and its time against
  `sealed_at` (verify_time.py).

Reading is bounded: documents are capped (`schemas.MAX_DOCUMENT_BYTES`), listed files are read up to
their declared size, FIFOs, devices and symlinks are never opened, and every document is parsed
against a strict schema (`schemas.py`). A day whose evidence is malformed gets a verdict like any
other; nothing here raises except EvidenceStoreError for storage that cannot be read (exit 2).

A day is `ok` when nothing is wrong; it is `authenticated` only when, in addition, a trusted key was
given and every attempt is signed by it.

Modules: `verify_reading.py` reads (bounded, once), `verdicts.py` holds what is concluded, this module
judges; `verify_time.py` checks the timestamp tokens and `signature_check.py` the signatures (the one
check the store uses too).
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime, timedelta
from datetime import date as date_cls
from typing import Any
from zoneinfo import ZoneInfo

from aircall_pipeline.evidence.errors import EvidenceStoreError, NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.layout import (
    LISTED_REPORT_BASES,
    REVIEWS,
    ROOT,
    parse_attempt_name,
    reports_folder,
    reviews_folder,
    signature_path,
    table_folder,
    token_path,
)
from aircall_pipeline.evidence.manifest import Artifact, check_summary
from aircall_pipeline.evidence.schemas import (
    MAX_CHECKS_BYTES,
    Attestation,
    CheckRecord,
    DailyManifest,
    Malformed,
    parse,
    strict_json,
)
from aircall_pipeline.evidence.signature_check import check_stored_signature
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.evidence.verdicts import (
    FILE_ALTERED,
    FILE_DELETED,
    FILE_MISSING,
    FILE_OK,
    FILE_UNLISTED,
    SIG_UNCHECKED,
    SIG_UNSIGNED,
    SIG_VALID,
    AttemptCheck,
    DayVerification,
    FileCheck,
    RangeVerification,
    Reseal,
    shown,
)
from aircall_pipeline.evidence.verify_reading import BoundedReader, EvidenceListing, ManifestAttempt
from aircall_pipeline.evidence.verify_time import check_times

# Imported from here by callers (the CLI, the package, reperform, benchmarks): the verdicts live in
# verdicts.py, the reading in verify_reading.py.
__all__ = ["FILE_OK", "SIG_VALID", "DayVerification", "RangeVerification", "shown", "verify_range"]

# The earliest a calendar day can have ended anywhere: midnight at UTC+14 (used when a manifest does not
# say which timezone its days are in).
EARLIEST_OFFSET = timedelta(hours=14)
FUTURE_SLACK = timedelta(minutes=5)  # clocks differ a little; a seal from the future does not


# --------------------------------------------------------------------------------------------------
# The verification


def verify_range(
    store: Any, start: str, end: str | None, trusted: TrustedKey | None, *, strict: bool = False,
    now: datetime | None = None, tsa_roots: list[bytes] | None = None,
) -> RangeVerification:
    """`tsa_roots`: the TSA root certificates (`timestamping.read_trusted_roots`) a timestamp token must
    chain to; without them a token's signature is checked against its own certificate only."""
    end = end or start
    if end < start:
        raise EvidenceStoreError(f"--to {end} is before --date {start}", kind="invalid_input")
    evidence = EvidenceListing(store, trusted, now or datetime.now(UTC), tsa_roots)
    days = []
    current = date_cls.fromisoformat(start)
    while current.isoformat() <= end:
        day = current.isoformat()
        v = DayVerification(date=day, uri=store.uri, trusted_key=trusted.key_fingerprint if trusted else None)
        try:
            _verify_day(v, evidence, strict=strict)
        except (ObjectMissing, NotRegularFile, ObjectTooLarge) as exc:  # a race with a writer or a deleter
            v.problems.append(f"evidence changed while it was verified: {exc}")
        except EvidenceStoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - the last guard: a verdict, never a traceback
            v.problems.append(f"INTERNAL ERROR while verifying this day ({type(exc).__name__}): the evidence is "
                              "not what the pipeline writes; please report it")
        days.append(v)
        current += timedelta(days=1)
    stray = [f"{key} is under {ROOT}/ but in no day's folder (date=YYYY-MM-DD in ASCII digits): no manifest "
             "vouches for it" for key in evidence.stray]
    return RangeVerification(days, stray)


def _verify_day(v: DayVerification, ev: EvidenceListing, *, strict: bool) -> None:
    day = v.date
    review_prefix = reviews_folder(day) + "/"
    entries = [(k, kind) for k, kind in ev.by_day.get(day, []) if not k.startswith(review_prefix)]
    attempts = ev.attempts(day)
    _report_attempts(v, attempts)
    genuine = [a for a in attempts if a.genuine]
    exempt = {p for a in attempts for p in (a.path, signature_path(a.path), token_path(a.path))}
    _verify_reviews(v, ev, day, genuine)
    if not genuine:
        what = "no genuine manifest" if attempts else "no manifest"
        v.problems.append(
            f"{what} for {day} in {ev.store.full_uri(reports_folder(day))}: a gap in the evidence (the day was "
            "never sealed, or its manifests were deleted or replaced)"
        )
        v.files += [FileCheck(k, FILE_UNLISTED, detail=_unlisted_detail(kind)) for k, kind in entries
                    if k not in exempt]
        return
    newest = genuine[-1]
    v.manifest_path, v.manifest_sha256 = newest.path, newest.sha256
    _check_attempt_chain(v, genuine, day=day)
    _check_seal_times(v, genuine, day, ev.now)
    claims = _claims(genuine, "attempt")
    _check_files(v, ev.reader, entries, claims, exempt)
    checks_by_attempt = {a.number: _check_content(v, ev, a, day) for a in genuine}
    _list_reseals(v, genuine, checks_by_attempt, strict=strict)
    _check_previous_day(v, ev, day, genuine)
    _check_next_day(v, ev, day, genuine)
    for a in genuine:
        for r in a.data.rejected:
            v.notes.append(f"attempt {a.number} refused {r.path} when it was sealed ({r.reason})")
    proof = check_times(genuine, ev.reader.document, ev.tsa_roots, signed_key=ev.trusted is not None)
    v.time = proof.time
    v.problems += proof.problems
    v.notes += [n for n in proof.notes if n not in v.notes]


def _report_attempts(v: DayVerification, attempts: list[ManifestAttempt]) -> None:
    """Every attempt as an `attempt:` line; every malformed, unsigned or foreign one as a problem."""
    for a in attempts:
        data = a.data
        sealed = data.sealed_at if data is not None else ""
        reason = (data.reason.text if isinstance(data, DailyManifest) else "access review") if data else ""
        fp = a.signature.key_fingerprint if a.signature else ""
        if data is None:
            state = "MALFORMED"
            v.problems.append(f"MALFORMED {a.path}: {a.why}")
        elif a.signature is not None and not a.signature.valid:
            state = f"FORGED ({a.signature.state})"
            v.problems.append(
                f"FORGED {a.path}: {a.signature.reason}. The pipeline writes a manifest's signature before "
                "the manifest, so it never leaves one unsigned or signed by another key: this object was "
                "put there by someone else")
        elif a.signature is not None:
            state = SIG_VALID
        elif a.signature_present:
            state = SIG_UNCHECKED
        else:
            state = SIG_UNSIGNED
            if data.signing.status == "signed":
                v.problems.append(f"{a.path} is UNSIGNED: it says it is signed, but {signature_path(a.path)} is "
                                  "missing")
            else:
                v.notes.append(f"{a.path} is unsigned")
        v.attempts.append(AttemptCheck(a.number, a.path, a.sha256, state, fp, sealed, reason))


def _claims(genuine: list[ManifestAttempt], label: str) -> dict[str, list[tuple[Artifact, str]]]:
    claims: dict[str, list[tuple[Artifact, str]]] = {}
    for a in genuine:
        listed = list(a.data.artifacts) + list(getattr(a.data, "other_files", []))
        for entry in listed:
            artifact = Artifact(entry.path, entry.sha256, entry.bytes, entry.rows)
            claims.setdefault(artifact.path, []).append((artifact, f"{label} {a.number}"))
    return claims


def _unlisted_detail(kind: str) -> str:
    if kind != "file":
        return f"a {kind}, not a regular file, in the day's folders: never opened, and no manifest lists it"
    return ("in the day's folders, but no manifest lists it: added after sealing, by hand or by a run that never "
            "sealed")


def _check_files(v: DayVerification, reader: BoundedReader, entries: list[tuple[str, str]],
                 claims: dict[str, list[tuple[Artifact, str]]], exempt: set[str]) -> None:
    reader.prefetch(claims)
    files = [_check_file(reader, path, claims[path]) for path in sorted(claims)]
    files += [FileCheck(key, FILE_UNLISTED, detail=_unlisted_detail(kind))
              for key, kind in entries if key not in claims and key not in exempt]
    v.files.extend(files)
    v.problems.extend(f"{f.status} {f.path}: {f.detail}" for f in files if not f.ok)


def _check_file(reader: BoundedReader, path: str, claims: list[tuple[Artifact, str]]) -> FileCheck:
    expected = claims[-1][0]
    stored = reader.stored(path, claims)
    if isinstance(stored, ObjectMissing):
        if stored.delete_marker:
            return FileCheck(path, FILE_DELETED, expected,
                             detail="listed, but deleted: an S3 delete marker hides it (an older version may remain)")
        return FileCheck(path, FILE_MISSING, expected, detail="listed in a manifest, not in storage")
    if isinstance(stored, NotRegularFile):
        return FileCheck(path, FILE_ALTERED, expected, detail=f"now a {stored.what}, not a regular file: not opened")
    if isinstance(stored, ObjectTooLarge):
        return FileCheck(path, FILE_ALTERED, expected,
                         detail=f"larger than the {stored.limit} bytes its manifest declares (read no further)")
    artifact, info = stored
    differences = []
    for claim, who in claims:
        if artifact.sha256 != claim.sha256:
            differences.append(f"sha256 {artifact.sha256[:16]}… instead of {claim.sha256[:16]}… ({who})")
        if artifact.bytes != claim.bytes:
            differences.append(f"{artifact.bytes} bytes instead of {claim.bytes} ({who})")
        if claim.rows is not None and artifact.rows != claim.rows:
            differences.append(f"{artifact.rows} rows instead of {claim.rows} ({who})")
    return FileCheck(path, FILE_ALTERED if differences else FILE_OK, expected,
                     detail="; ".join(dict.fromkeys(differences)), lock=info.lock_summary())


def _check_attempt_chain(v: DayVerification, genuine: list[ManifestAttempt], *, day: str | None) -> None:
    """Each genuine attempt names itself as its file name and folder say, and chains to the genuine
    attempt before it (by path and SHA-256); the first chains to nothing genuine."""
    previous: ManifestAttempt | None = None
    for a in genuine:
        data = a.data
        if data.attempt != a.number:
            v.problems.append(f"{a.path} says it is attempt {data.attempt}, but its file name makes it attempt "
                              f"{a.number}: a manifest was copied or renamed")
        if day is not None and data.date != day:
            v.problems.append(f"{a.path} says it is the manifest of {data.date}, not {day}")
        link = data.previous_attempt
        if previous is None:
            if link is not None:
                v.problems.append(f"{a.path} chains to a previous attempt {link.path} that is missing or not "
                                  "genuine: an earlier attempt was deleted, or the pipeline chained to a forgery")
        elif link is None or link.path != previous.path:
            v.problems.append(f"{a.path} does not chain to attempt {previous.number} ({previous.path}): it names "
                              f"{link.path if link else 'no previous attempt'}; the attempt chain is broken")
        elif link.sha256 != previous.sha256:
            v.problems.append(f"{previous.path} changed after {a.path} was sealed (sha256 recorded "
                              f"{link.sha256[:16]}…, now {previous.sha256[:16]}…): the attempt chain is broken")
        previous = a


def _day_end(day: str, data: DailyManifest) -> tuple[datetime, str]:
    start = date_cls.fromisoformat(day) + timedelta(days=1)
    if data.timezone:
        try:
            return datetime.combine(start, datetime.min.time(), ZoneInfo(data.timezone)).astimezone(UTC), data.timezone
        except (ValueError, KeyError, OSError):
            pass
    return datetime.combine(start, datetime.min.time(), UTC) - EARLIEST_OFFSET, "UTC+14, the earliest anywhere"


def _check_seal_times(v: DayVerification, genuine: list[ManifestAttempt], day: str, now: datetime) -> None:
    """sealed_at strictly increasing across attempts, after the day ended, and not in the future."""
    end, where = _day_end(day, genuine[0].data)
    previous: ManifestAttempt | None = None
    for a in genuine:
        sealed = a.data.sealed
        if sealed < end:
            v.problems.append(f"{a.path} says it was sealed at {a.data.sealed_at}, before {day} ended "
                              f"({end.isoformat()}, {where}): a day cannot be sealed before it is over")
        if sealed > now + FUTURE_SLACK:
            v.problems.append(f"{a.path} says it was sealed at {a.data.sealed_at}, in the future")
        if previous is not None and sealed <= previous.data.sealed:
            v.problems.append(f"{a.path} says it was sealed at {a.data.sealed_at}, not after attempt "
                              f"{previous.number} ({previous.data.sealed_at}): a re-seal was back-dated")
        previous = a


def _check_content(v: DayVerification, ev: EvidenceListing, a: ManifestAttempt, day: str) -> dict[str, str] | None:
    """The attempt lists the day's required tables, one each of checks.json, report.html (and from
    version 4 report.pdf, assessment-results.json, records.jsonl) of its own folder and no other file
    there, and its check summary equals that checks.json. Returns check id -> status."""
    from aircall_pipeline.evidence.day_tables import CHECK_IDS, EVIDENCE_TABLES, OWNER_TABLES

    listed = {artifact.path for artifact in a.data.artifacts}
    folder = reports_folder(day) + "/"
    # Owner inputs are sealed from manifest version 4 on; earlier days were sealed without them.
    required = EVIDENCE_TABLES if a.data.manifest_version >= 4 else [t for t in EVIDENCE_TABLES
                                                                      if t not in OWNER_TABLES]
    missing = [t for t in required
               if not any(p.startswith(table_folder(t, day) + "/") and p.endswith(ext) for p in listed
                          for ext in (".parquet", ".csv"))]
    if missing:
        v.problems.append(f"{a.path} lists no {', '.join(missing)} table(s): a manifest must list every table "
                          "of the day")
    files = _report_files(listed, folder)
    # The platform files (report.pdf, OSCAL, records.jsonl) are sealed from manifest version 4 on.
    wanted = LISTED_REPORT_BASES if a.data.manifest_version >= 4 else ("checks.json", "report.html")
    counts = {base: len(files.get(base, [])) for base in wanted}
    strays = sorted(p for base, paths in files.items() if base not in wanted for p in paths)
    if any(n != 1 for n in counts.values()) or strays:
        listing = ", ".join(f"{n} {base}" for base, n in counts.items())
        extra = f", and {', '.join(strays)} besides" if strays else ""
        v.problems.append(f"{a.path} lists {listing}{extra}: it must list exactly one of each "
                          f"({', '.join(wanted)}) in its folder, and no other report file")
        return None
    checks = files["checks.json"]
    try:
        raw = ev.reader.document(checks[0], limit=MAX_CHECKS_BYTES)
        records = strict_json(raw, limit=MAX_CHECKS_BYTES)
        if not isinstance(records, list):
            raise Malformed("not a list of checks")
        parsed = [CheckRecord.model_validate(r) for r in records]
    except (ObjectMissing, NotRegularFile, ObjectTooLarge):
        return None  # reported with the files
    except Exception as exc:  # noqa: BLE001 - Malformed or a pydantic ValidationError
        v.problems.append(f"MALFORMED {checks[0]}: {str(exc).splitlines()[0][:200]}")
        return None
    ids = [r.id for r in parsed]
    if sorted(ids) != sorted(CHECK_IDS):
        v.problems.append(f"{checks[0]} holds checks {', '.join(ids) or 'none'}; the day needs exactly "
                          f"{', '.join(CHECK_IDS)}")
    summary = [check_summary(r.model_dump()) for r in parsed]
    recorded = [c.model_dump() for c in a.data.checks]
    if summary != recorded:
        differ = sorted({s["id"] for s in summary} ^ {r["id"] for r in recorded}
                        | {s["id"] for s, r in zip(summary, recorded, strict=False) if s != r})
        v.problems.append(f"{a.path} summarises the checks differently from {checks[0]} (for {', '.join(differ)}): "
                          "the manifest's check summary must equal the checks it lists")
    return {r.id: r.status for r in parsed}


def _report_files(listed: set[str], folder: str) -> dict[str, list[str]]:
    """Base name (`report.html`, whatever the attempt: `report.attempt-2.html` too) -> the listed paths
    of the report folder `folder` spelling it. Exact base names, not prefixes: `report.pdf` is not a
    second `report.html`. A name that is no attempt name at all counts under itself, so it is a stray."""
    files: dict[str, list[str]] = {}
    for path in listed:
        if not path.startswith(folder):
            continue
        name = path[len(folder):]
        parsed = parse_attempt_name(name)
        files.setdefault(f"{parsed[0]}.{parsed[2]}" if parsed else name, []).append(path)
    return files


def _list_reseals(v: DayVerification, genuine: list[ManifestAttempt], checks: dict[int, dict[str, str] | None], *,
                  strict: bool) -> None:
    for before, after in zip(genuine, genuine[1:], strict=False):
        tables_before = _table_hashes(before.data)
        tables_after = _table_hashes(after.data)
        changed = tuple(sorted(t for t in tables_before.keys() | tables_after.keys()
                               if tables_before.get(t) != tables_after.get(t)))
        old, new = checks.get(before.number) or {}, checks.get(after.number) or {}
        flips = tuple((cid, old.get(cid, "absent"), new.get(cid, "absent")) for cid in sorted(old.keys() | new.keys())
                      if old.get(cid) != new.get(cid))
        reseal = Reseal(after.number, after.data.reason.text, changed, flips)
        v.reseals.append(reseal)
        if strict and flips:
            v.problems.append(f"--strict: {reseal.text()}: a re-seal changed a check's result")


def _table_hashes(data: DailyManifest) -> dict[str, str]:
    return {a.path.split("/")[1]: a.sha256 for a in data.artifacts if a.path.endswith(".parquet")}


def _check_previous_day(v: DayVerification, ev: EvidenceListing, day: str, genuine: list[ManifestAttempt]) -> None:
    """Every attempt links to the newest genuine attempt of the most recent earlier sealed day, or to
    nothing when there was none."""
    earlier = ev.sealed_neighbour(day, -1)
    for a in genuine:
        link = a.data.previous_manifest
        if link is None:
            if earlier:
                v.problems.append(f"{a.path} has no link to the previous sealed day {earlier}: that day was sealed "
                                  "after this one, or the link was removed")
            else:
                v.previous = "none (no earlier day was sealed when this day was)"
            continue
        if link.date >= day or not link.path.startswith(reports_folder(link.date) + "/"):
            v.problems.append(f"{a.path} links to {link.path} of {link.date} as its previous day: not an earlier "
                              "day's manifest")
            continue
        target = next((t for t in ev.attempts(link.date) if t.path == link.path), None)
        if target is None:
            v.problems.append(f"the previous day's manifest {link.path}, linked by {a.path}, is missing: the "
                              "day-to-day chain is broken")
            continue
        if target.sha256 != link.sha256:
            v.problems.append(f"the previous day's manifest {link.path} changed after {day} was sealed (sha256 "
                              f"recorded {link.sha256[:16]}…, now {target.sha256[:16]}…): the day-to-day chain is "
                              "broken")
            continue
        if not target.genuine:
            v.problems.append(f"{a.path} links to {link.path}, which is not genuine: the day-to-day chain runs "
                              "through a forged manifest")
            continue
        if earlier and link.date < earlier:
            v.problems.append(f"{day} links to {link.date}, but {earlier} lies between them: {earlier} was sealed "
                              f"after {day} was")
        v.previous = f"ok {link.path} ({link.date}, sha256 {target.sha256[:16]}…)"


def _check_next_day(v: DayVerification, ev: EvidenceListing, day: str, genuine: list[ManifestAttempt]) -> None:
    """The next sealed day's attempts all link to this day's newest attempt, and every attempt of this
    day was sealed before that day's first: otherwise this day was rewritten afterwards."""
    next_day = ev.sealed_neighbour(day, +1)
    if next_day is None:
        return
    following = ev.genuine(next_day)
    newest = genuine[-1]
    ours = {a.path: a for a in genuine}
    for h in following:
        link = h.data.previous_manifest
        linked = link.path if link else ""
        if not linked.startswith(reports_folder(day) + "/"):
            if not linked or linked < reports_folder(day) + "/":
                v.problems.append(f"{next_day}'s manifest {h.path} links to {linked or 'no earlier day'}, not to "
                                  f"{day}: {day} was sealed after {next_day} was")
            continue
        if linked == newest.path:
            continue
        if linked not in ours:
            v.problems.append(f"{next_day}'s manifest {h.path} links to {linked}, which is missing or not genuine: "
                              f"a manifest of {day} was deleted or replaced")
            continue
        v.problems.append(
            f"{newest.path} (sealed {newest.data.sealed_at}) superseded {linked} after {next_day} was sealed "
            f"({h.data.sealed_at}) and linked to it: the day was rewritten afterwards")
    first = following[0].data.sealed
    for a in genuine:
        if a.data.sealed >= first:
            v.problems.append(f"{a.path} was sealed at {a.data.sealed_at}, after {next_day}'s first attempt "
                              f"({following[0].data.sealed_at}): {day} was re-sealed after the next day was sealed")


def _verify_reviews(v: DayVerification, ev: EvidenceListing, day: str, genuine_days: list[ManifestAttempt]) -> None:
    """The day's access reviews (AC-16): each review manifest and attestation signed, chained, filed
    under the day it reviewed, and every file they list intact; anything else in the folder is unlisted."""
    prefix = reviews_folder(day) + "/"
    entries = [(k, kind) for k, kind in ev.by_day.get(day, []) if k.startswith(prefix)]
    if not entries:
        return
    attempts = ev.attempts(day, REVIEWS)
    _report_attempts(v, attempts)
    genuine = [a for a in attempts if a.genuine]
    exempt = {p for a in attempts for p in (a.path, signature_path(a.path), token_path(a.path))}
    if not attempts:
        v.problems.append(f"{reviews_folder(day)} holds files but no review manifest")
    _check_attempt_chain(v, genuine, day=day)
    # The day's `time:` line is its report's; a review's tokens only add problems (and the chain note).
    proof = check_times(genuine, ev.reader.document, ev.tsa_roots, signed_key=ev.trusted is not None)
    v.problems += proof.problems
    v.notes += [n for n in proof.notes if n not in v.notes]
    claims = _claims(genuine, "review attempt")
    days_manifests = {a.path: a.sha256 for a in genuine_days}
    for path in [p for p in claims if posixpath.basename(p).startswith("attestation.")]:
        exempt.add(signature_path(path))
        _check_attestation(v, ev, day, path, days_manifests)
    _check_files(v, ev.reader, entries, claims, exempt)


def _check_attestation(v: DayVerification, ev: EvidenceListing, day: str, path: str, manifests: dict[str, str]) -> None:
    try:
        raw = ev.reader.document(path)
    except (ObjectMissing, NotRegularFile, ObjectTooLarge):
        return  # reported with the files
    try:
        attestation = parse(Attestation, raw)
    except Malformed as exc:
        v.problems.append(f"MALFORMED {path}: {exc}")
        return
    if attestation.date != day or manifests.get(attestation.snapshot.path) != attestation.snapshot.sha256:
        v.problems.append(f"{path} reviews {attestation.snapshot.path} of {attestation.date}, which is not a "
                          f"genuine manifest of {day}: a review is compared only with the day it is filed under")
    if ev.trusted is not None:
        check = check_stored_signature(ev.reader.document, path, raw, ev.trusted)
        if not check.valid:
            v.problems.append(f"FORGED {path}: the attestation {check.reason}")

