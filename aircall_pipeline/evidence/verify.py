"""Verification of sealed evidence, the way a third party does it (the model: CloudTrail `validate-logs`).

For every day of a range it reports:

* each manifest attempt: its signature against the *trusted* key the caller gives (never a key found
  in the evidence), that its `attempt` field matches its file name, and that it chains to the
  previous attempt by path and SHA-256;
* each file any attempt lists (artifacts and `other_files`): ok, ALTERED, MISSING or DELETED (an S3
  delete marker), with its Object Lock state;
* UNLISTED files: in the day's folders, but vouched for by no manifest (added by hand, or by a run
  that never sealed);
* the day-to-day chain: the day's link to the previous sealed day, and the next day's link to this
  one (a day rewritten after the next day was sealed is reported).

A day is `ok` when nothing is wrong with hashes, listings and chains; it is `authenticated` only
when, in addition, a trusted key was given and every attempt carries a valid signature by it.
Without a trusted key nothing is ever called untampered. Storage that cannot be read raises
EvidenceStoreError (the CLI's exit 2), never a "missing" verdict.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date as date_cls
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aircall_pipeline.evidence.errors import EvidenceStoreError, ObjectMissing
from aircall_pipeline.evidence.layout import (
    REPORTS,
    ROOT,
    date_of_key,
    parse_attempt_name,
    reports_folder,
    reviews_folder,
    safe_relpath,
    signature_path,
)
from aircall_pipeline.evidence.manifest import Artifact
from aircall_pipeline.evidence.signing import Signature, SigningError, TrustedKey

if TYPE_CHECKING:
    from aircall_pipeline.evidence.store import EvidenceStore

FILE_OK, FILE_ALTERED, FILE_MISSING, FILE_DELETED, FILE_UNLISTED = "ok", "ALTERED", "MISSING", "DELETED", "UNLISTED"
SIG_VALID, SIG_INVALID, SIG_FOREIGN, SIG_UNSIGNED, SIG_UNCHECKED = (
    "valid",
    "INVALID",
    "FOREIGN KEY",
    "UNSIGNED",
    "not checked",
)


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one file of the day."""

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
    signature: str  # valid | INVALID | FOREIGN KEY | UNSIGNED | not checked
    key_fingerprint: str = ""
    sealed_at: str = ""
    reason: str = ""


@dataclass
class DayVerification:
    date: str
    uri: str
    trusted_key: str | None = None  # the fingerprint checked against, if any
    manifest_path: str | None = None  # the newest attempt: the day's evidence
    manifest_sha256: str | None = None
    attempts: list[AttemptCheck] = field(default_factory=list)
    files: list[FileCheck] = field(default_factory=list)
    previous: str = ""
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
        out.extend(f"problem:  {p}" for p in self.problems)
        out.extend(f"note:     {n}" for n in self.notes)
        out.append(f"verdict:  {self.verdict()}")
        return out

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
            "files": [
                {"path": f.path, "status": f.status, "detail": f.detail, "lock": f.lock,
                 "sha256": f.expected.sha256 if f.expected else None}
                for f in self.files
            ],
            "previous": self.previous,
            "problems": self.problems,
            "notes": self.notes,
            "verdict": self.verdict(),
        }


@dataclass
class RangeVerification:
    days: list[DayVerification]

    @property
    def authenticated(self) -> bool:
        return bool(self.days) and all(d.authenticated for d in self.days)

    @property
    def ok(self) -> bool:
        return bool(self.days) and all(d.ok for d in self.days)


# --------------------------------------------------------------------------------------------------


class _Reader:
    """Reads each object of the store at most once per verification, several at a time: on S3 each
    GET is a round trip, and a day's files are independent of each other."""

    PARALLEL = 8

    def __init__(self, store: EvidenceStore):
        self.store = store
        self._raw: dict[str, bytes] = {}
        self._objects: dict[str, Any] = {}

    def prefetch(self, paths: list[str]) -> None:
        """Re-hash `paths` concurrently (storage errors surface when they are used)."""
        from concurrent.futures import ThreadPoolExecutor

        todo = [p for p in paths if p not in self._objects]
        if len(todo) < 2:
            return
        with ThreadPoolExecutor(max_workers=self.PARALLEL) as pool:
            for path, result in zip(todo, pool.map(self._try_stored, todo), strict=True):
                if not isinstance(result, EvidenceStoreError) or isinstance(result, ObjectMissing):
                    self._objects[path] = result

    def _try_stored(self, path: str) -> Any:
        try:
            return self.store.stored_object(path)
        except EvidenceStoreError as exc:
            return exc

    def raw(self, path: str) -> bytes:
        if path not in self._raw:
            self._raw[path] = self.store.backend.get(path)
        return self._raw[path]

    def stored(self, path: str) -> tuple[Artifact, Any] | ObjectMissing:
        if path not in self._objects:
            try:
                self._objects[path] = self.store.stored_object(path)
            except ObjectMissing as exc:
                self._objects[path] = exc
        return self._objects[path]


def verify_range(
    store: EvidenceStore, start: str, end: str | None, trusted: TrustedKey | None
) -> RangeVerification:
    end = end or start
    if end < start:
        raise EvidenceStoreError(f"--to {end} is before --date {start}", kind="invalid_input")
    by_date: dict[str, list[str]] = {}
    for key in store.backend.list(ROOT):
        day = date_of_key(key)
        if day is not None:
            by_date.setdefault(day, []).append(key)
    sealed = sorted(d for d, keys in by_date.items() if _manifests(d, keys))
    reader = _Reader(store)
    days = []
    current = date_cls.fromisoformat(start)
    while current.isoformat() <= end:
        day = current.isoformat()
        days.append(_verify_day(store, reader, day, by_date, sealed, trusted))
        current += timedelta(days=1)
    return RangeVerification(days)


def _manifests(day: str, keys: list[str], folder: str | None = None) -> dict[int, str]:
    """attempt -> manifest path, for the day's report folder (or another folder of the day)."""
    folder = folder or reports_folder(day)
    out = {}
    for key in keys:
        if key.startswith(folder + "/"):
            parsed = parse_attempt_name(key[len(folder) + 1 :])
            if parsed and parsed[0] == "manifest" and parsed[2] == "json":
                out[parsed[1]] = key
    return out


def _load(reader: _Reader, path: str) -> tuple[bytes, dict[str, Any] | None]:
    raw = reader.raw(path)
    try:
        data = json.loads(raw)
        return raw, data if isinstance(data, dict) else None
    except ValueError:
        return raw, None


def _verify_day(
    store: EvidenceStore,
    reader: _Reader,
    day: str,
    by_date: dict[str, list[str]],
    sealed: list[str],
    trusted: TrustedKey | None,
) -> DayVerification:
    v = DayVerification(date=day, uri=store.uri, trusted_key=trusted.key_fingerprint if trusted else None)
    review_folder = reviews_folder(day) + "/"
    keys = sorted(k for k in by_date.get(day, []) if not k.startswith(review_folder))
    _verify_reviews(v, reader, day, sorted(k for k in by_date.get(day, []) if k.startswith(review_folder)), trusted)
    manifests = _manifests(day, keys)
    if not manifests:
        v.problems.append(
            f"no manifest for {day} in {store.full_uri(reports_folder(day))}: a gap in the evidence (the day "
            "was never sealed, or its manifests were deleted)"
        )
        v.files += [FileCheck(k, FILE_UNLISTED, detail="in the day's folders, but no manifest vouches for it")
                    for k in keys]
        return v

    chain = _check_attempts(v, reader, manifests, trusted, day=day, label="attempt")
    newest = max(manifests)
    v.manifest_path, v.manifest_sha256 = manifests[newest], chain.newest_sha256
    data_by_attempt = chain.data
    claims, exempt = chain.claims, chain.exempt
    _accept_superseded_unsigned(v, data_by_attempt)

    _check_files(v, reader, keys, claims, exempt)

    newest_data = data_by_attempt.get(newest, {})
    _check_previous_day(v, reader, day, newest_data.get("previous_manifest"), sealed)
    _check_next_day(v, reader, day, manifests, newest_data, by_date, sealed)
    return v


@dataclass
class _Chain:
    """What a folder's manifest attempts vouch for: claims per file, the manifests and signatures
    themselves (exempt from UNLISTED), each attempt's parsed content, and the newest one's hash."""

    claims: dict[str, list[tuple[Artifact, str]]] = field(default_factory=dict)
    exempt: set[str] = field(default_factory=set)
    data: dict[int, dict[str, Any]] = field(default_factory=dict)
    newest_sha256: str | None = None


def _check_attempts(
    v: DayVerification, reader: _Reader, manifests: dict[int, str], trusted: TrustedKey | None, *,
    day: str | None, label: str,
) -> _Chain:
    """Each manifest attempt, oldest first: readable, its `attempt` (and `date`) as its file name and
    folder say, chained to the previous attempt, signed by the trusted key; what it lists is claimed."""
    chain = _Chain()
    previous: tuple[int, str, str] | None = None  # attempt, path, sha256 of the prior sealed attempt
    for number in sorted(manifests):
        path = manifests[number]
        chain.exempt |= {path, signature_path(path)}
        raw, data = _load(reader, path)
        sha = hashlib.sha256(raw).hexdigest()
        previous_link, previous = previous, (number, path, sha)
        chain.newest_sha256 = sha
        if data is None:
            v.problems.append(f"{path} is not a readable manifest (not a JSON object)")
            v.attempts.append(AttemptCheck(number, path, sha, SIG_UNCHECKED))
            continue
        chain.data[number] = data
        if data.get("attempt") != number:
            v.problems.append(
                f"{path} says it is attempt {data.get('attempt')!r}, but its file name makes it attempt {number}: "
                "a manifest was copied or renamed"
            )
        if day is not None and data.get("date") != day:
            v.problems.append(f"{path} says it is the manifest of {data.get('date')!r}, not {day}")
        _check_attempt_link(v, path, data.get("previous_attempt"), previous_link)
        state, fp = _check_signature(v, reader, path, raw, sha, data, trusted)
        reason = str((data.get("reason") or {}).get("text") or "") if day is not None else "access review"
        v.attempts.append(AttemptCheck(number, path, sha, state, fp, str(data.get("sealed_at") or ""), reason))
        for entry in list(data.get("artifacts") or []) + list(data.get("other_files") or []):
            try:
                artifact = Artifact.from_dict(entry)
            except (KeyError, TypeError, ValueError):
                v.problems.append(f"{path} lists a malformed entry: {entry!r}")
                continue
            chain.claims.setdefault(artifact.path, []).append((artifact, f"{label} {number}"))
    return chain


def _check_files(
    v: DayVerification, reader: _Reader, keys: list[str], claims: dict[str, list[tuple[Artifact, str]]], exempt: set[str]
) -> None:
    reader.prefetch(sorted(claims))
    files = [_check_file(reader, path, claims[path]) for path in sorted(claims)]
    files += [
        FileCheck(key, FILE_UNLISTED, detail="in the day's folders, but no manifest lists it: added after sealing, "
                                             "by hand or by a run that never sealed")
        for key in keys if key not in claims and key not in exempt
    ]
    v.files.extend(files)
    v.problems.extend(f"{f.status} {f.path}: {f.detail}" for f in files if not f.ok)


def _verify_reviews(
    v: DayVerification, reader: _Reader, day: str, keys: list[str], trusted: TrustedKey | None
) -> None:
    """The day's access reviews (AC-16): each review manifest and attestation signed, chained, and
    every file they list intact; anything else in the folder is unlisted."""
    if not keys:
        return
    manifests = _manifests(day, keys, reviews_folder(day))
    chain = _check_attempts(v, reader, manifests, trusted, day=None, label="review attempt")
    claims, exempt = chain.claims, chain.exempt
    for path in [p for p in claims if p.rsplit("/", 1)[-1].startswith("attestation.")]:
        # The attestation is signed on its own too: it is what an auditor quotes.
        exempt.add(signature_path(path))
        if path in keys:
            raw = reader.raw(path)
            _check_signature(v, reader, path, raw, hashlib.sha256(raw).hexdigest(), {"signing": {"status": "signed"}},
                             trusted)
    if not manifests:
        v.problems.append(f"{reviews_folder(day)} holds files but no review manifest")
    _check_files(v, reader, keys, claims, exempt)


def _check_attempt_link(v: DayVerification, path: str, link: Any, previous: tuple[int, str, str] | None) -> None:
    if previous is None:
        if link:
            v.problems.append(
                f"{path} chains to a previous attempt {link.get('path') if isinstance(link, dict) else link!r} "
                "that no longer exists: an earlier attempt was deleted"
            )
        return
    number, prev_path, prev_sha = previous
    if not isinstance(link, dict) or link.get("path") != prev_path:
        v.problems.append(
            f"{path} does not chain to attempt {number} ({prev_path}): it names "
            f"{link.get('path') if isinstance(link, dict) else 'no previous attempt'}; the attempt chain is broken"
        )
    elif link.get("sha256") != prev_sha:
        v.problems.append(
            f"{prev_path} changed after {path} was sealed (sha256 recorded {str(link.get('sha256'))[:16]}…, now "
            f"{prev_sha[:16]}…): the attempt chain is broken"
        )


def _check_signature(
    v: DayVerification, reader: _Reader, path: str, raw: bytes, sha: str, data: dict[str, Any],
    trusted: TrustedKey | None,
) -> tuple[str, str]:
    try:
        signature = Signature.from_json(reader.raw(signature_path(path)))
    except ObjectMissing:
        claimed = (data.get("signing") or {}).get("status") == "signed"
        if claimed:
            v.problems.append(f"{path} is UNSIGNED: it says it is signed, but {signature_path(path)} is missing")
        elif trusted is not None:
            v.problems.append(f"{path} is UNSIGNED: its authenticity cannot be proven")
        else:
            v.notes.append(f"{path} is unsigned")
        return SIG_UNSIGNED, ""
    except SigningError as exc:
        v.problems.append(f"{signature_path(path)}: {exc}")
        return SIG_INVALID, ""
    if signature.path != path or signature.sha256 != sha or signature.bytes != len(raw):
        v.problems.append(
            f"{signature_path(path)} signs {signature.path} (sha256 {signature.sha256[:16]}…), not this "
            f"manifest (sha256 {sha[:16]}…): the manifest was changed or the signature moved"
        )
        return SIG_INVALID, signature.key_fingerprint
    if trusted is None:
        return SIG_UNCHECKED, signature.key_fingerprint
    if signature.key_fingerprint != trusted.key_fingerprint:
        v.problems.append(
            f"{path} is signed by another key ({signature.key_fingerprint}), not the trusted key "
            f"({trusted.key_fingerprint})"
        )
        return SIG_FOREIGN, signature.key_fingerprint
    try:
        trusted.verify(signature)
    except SigningError as exc:
        v.problems.append(f"{signature_path(path)}: {exc}")
        return SIG_INVALID, signature.key_fingerprint
    return SIG_VALID, signature.key_fingerprint


def _accept_superseded_unsigned(v: DayVerification, data_by_attempt: dict[int, dict[str, Any]]) -> None:
    """An attempt whose signature write failed is superseded by the next run. When that next attempt
    is validly signed and recorded, when sealing, that its predecessor had no signature, the unsigned
    attempt is a documented interruption, not a forgery: a note, not a problem."""
    by_number = {a.attempt: a for a in v.attempts}
    for a in v.attempts:
        if a.signature != SIG_UNSIGNED:
            continue
        later = [n for n in by_number if n > a.attempt]
        if not later:
            continue
        successor = by_number[min(later)]
        link = (data_by_attempt.get(successor.attempt) or {}).get("previous_attempt") or {}
        if successor.signature == SIG_VALID and link.get("path") == a.path and link.get("signature") == "missing":
            unsigned = [p for p in v.problems if p.startswith(f"{a.path} is UNSIGNED")]
            if unsigned:
                v.problems.remove(unsigned[0])
                v.notes.append(
                    f"{a.path} was never signed (its signature write failed); attempt {successor.attempt}, "
                    "validly signed, records that and supersedes it"
                )


def _check_file(reader: _Reader, path: str, claims: list[tuple[Artifact, str]]) -> FileCheck:
    expected = claims[-1][0]
    try:
        safe_relpath(path)
    except EvidenceStoreError:
        return FileCheck(path, FILE_ALTERED, expected, detail="path outside the evidence root")
    stored = reader.stored(path)
    if isinstance(stored, ObjectMissing):
        if stored.delete_marker:
            return FileCheck(path, FILE_DELETED, expected,
                             detail="listed, but deleted: an S3 delete marker hides it (an older version may remain)")
        return FileCheck(path, FILE_MISSING, expected, detail="listed in a manifest, not in storage")
    artifact, info = stored
    differences = []
    for claim, who in claims:
        if artifact.sha256 != claim.sha256:
            differences.append(f"sha256 {artifact.sha256[:16]}… instead of {claim.sha256[:16]}… ({who})")
        if artifact.bytes != claim.bytes:
            differences.append(f"{artifact.bytes} bytes instead of {claim.bytes} ({who})")
        if claim.rows is not None and artifact.rows != claim.rows:
            differences.append(f"{artifact.rows} rows instead of {claim.rows} ({who})")
    return FileCheck(
        path,
        FILE_ALTERED if differences else FILE_OK,
        expected,
        detail="; ".join(dict.fromkeys(differences)),
        lock=info.lock_summary(),
    )


def _check_previous_day(
    v: DayVerification, reader: _Reader, day: str, link: Any, sealed: list[str]
) -> None:
    earlier = [d for d in sealed if d < day]
    if not link:
        if earlier:
            v.problems.append(
                f"{v.manifest_path} has no link to the previous sealed day {earlier[-1]}: that day was sealed "
                "after this one, or the link was removed"
            )
        else:
            v.previous = "none (no earlier day was sealed when this day was)"
        return
    if not isinstance(link, dict) or "path" not in link or "sha256" not in link:
        v.problems.append(f"{v.manifest_path} has a malformed link to the previous day: {link!r}")
        return
    target = str(link["path"])
    try:
        raw = reader.raw(safe_relpath(target))
    except ObjectMissing:
        v.problems.append(f"the previous day's manifest {target}, linked by {v.manifest_path}, is missing: the "
                          "day-to-day chain is broken")
        return
    sha = hashlib.sha256(raw).hexdigest()
    if sha != link["sha256"]:
        v.problems.append(
            f"the previous day's manifest {target} changed after {day} was sealed (sha256 recorded "
            f"{str(link['sha256'])[:16]}…, now {sha[:16]}…): the day-to-day chain is broken"
        )
        return
    linked_day = link.get("date")
    if earlier and linked_day and linked_day < earlier[-1]:
        v.problems.append(
            f"{day} links to {linked_day}, but {earlier[-1]} lies between them: {earlier[-1]} was sealed after "
            f"{day} was"
        )
    v.previous = f"ok {target} ({linked_day or '?'}, sha256 {sha[:16]}…)"


def _check_next_day(
    v: DayVerification,
    reader: _Reader,
    day: str,
    manifests: dict[int, str],
    newest_data: dict[str, Any],
    by_date: dict[str, list[str]],
    sealed: list[str],
) -> None:
    later = [d for d in sealed if d > day]
    if not later:
        return
    next_day = later[0]
    next_manifests = _manifests(next_day, by_date[next_day])
    _, next_data = _load(reader, next_manifests[max(next_manifests)])
    link = (next_data or {}).get("previous_manifest") or {}
    linked = str(link.get("path") or "")
    if not linked.startswith(f"{ROOT}/{REPORTS}/date={day}/"):
        if not linked or linked < f"{ROOT}/{REPORTS}/date={day}/":
            v.problems.append(
                f"{next_day}'s manifest links to {linked or 'no earlier day'}, not to {day}: {day} was sealed "
                f"after {next_day} was"
            )
        return
    newest_path = manifests[max(manifests)]
    if linked == newest_path:
        return
    if linked not in manifests.values():
        v.problems.append(f"{next_day}'s manifest links to {linked}, which is missing: a manifest of {day} was deleted")
        return
    v.problems.append(
        f"{newest_path} (sealed {newest_data.get('sealed_at') or '?'}) superseded {linked} after {next_day} was "
        f"sealed ({(next_data or {}).get('sealed_at') or '?'}) and linked to it: the day was rewritten afterwards"
    )
