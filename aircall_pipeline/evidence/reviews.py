"""Access reviews (AC-16) in the store: writing a completed review of a day under
`aircall/reviews/date=D/` as a signed, write-once attempt, and finding the newest review that counts."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd

from aircall_pipeline.evidence.attempts import (
    Content,
    attempt_key,
    newest_trusted,
    prior_attempt,
    read_document,
    write_attempt,
)
from aircall_pipeline.evidence.backends import Backend
from aircall_pipeline.evidence.errors import EvidenceStoreError, NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.formats import arrow_table, csv_blob, parquet_bytes
from aircall_pipeline.evidence.layout import (
    REVIEW_BASES,
    REVIEWS,
    ROOT,
    SEALED_REVIEW_BASES,
    check_date,
    day_entry,
    reports_folder,
    reviews_folder,
)
from aircall_pipeline.evidence.manifest import (
    MANIFEST_VERSION,
    Artifact,
    Manifest,
    iso_utc,
    json_bytes,
    to_jsonable,
)
from aircall_pipeline.evidence.schemas import (
    MAX_DOCUMENT_BYTES,
    Attestation,
    Malformed,
    ReviewManifest,
    parse,
)
from aircall_pipeline.evidence.sealing import Timestamper, seal_files, signing_note
from aircall_pipeline.evidence.signature_check import check_stored_signature
from aircall_pipeline.evidence.signing import Signer, TrustedKey, sign_manifest
from aircall_pipeline.evidence.stored import sha256_hex


def write_review(
    backend: Backend, clock: Callable[[], datetime], date: Any, review: pd.DataFrame, attestation: dict[str, Any],
    signer: Signer, timestamper: Timestamper | None = None,
) -> Manifest:
    """`EvidenceStore.write_review` (its docstring says what it writes), over `backend`."""
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
                Artifact(attempt_key(folder, base, number), sha256_hex(data), len(data),
                         arrow.num_rows if base.startswith("review.") else None)
                for base, data in files
            ]
            attestation_path = attempt_key(folder, "attestation.json", number)
            manifest_path = attempt_key(folder, "manifest.json", number)
            prior, rejected = prior_attempt(backend, folder, number, trusted_self, bases=REVIEW_BASES,
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
                "sealed_at": iso_utc(clock()),
            })
            manifest_bytes = json_bytes(data)
            built[number] = ([
                *files,
                ("attestation.sig", sign_manifest(signer, attestation_path, attestation_data).to_json()),
                *seal_files(signer, timestamper, manifest_path, manifest_bytes, f"the {date} access review"),
                ("manifest.json", manifest_bytes),
            ], data)
        return built[number][0]

    number, _ = write_attempt(backend, folder, SEALED_REVIEW_BASES, build)
    files, data = built[number]
    manifest_bytes = files[-1][1]
    path = attempt_key(folder, "manifest.json", number)
    return Manifest(data=data, path=path, sha256=sha256_hex(manifest_bytes), uri=backend.full_uri(path),
                    bytes=len(manifest_bytes))


def review_dates(backend: Backend) -> list[str]:
    dates = set()
    for key in backend.list(f"{ROOT}/{REVIEWS}"):
        if (entry := day_entry(key, REVIEWS)) and entry[1].startswith("manifest."):
            dates.add(entry[0])
    return sorted(dates)


def latest_review(backend: Backend, on_or_before: Any, trusted: TrustedKey | None) -> dict[str, Any] | None:
    """`EvidenceStore.latest_review` (its docstring says what counts and what is returned)."""
    day = check_date(on_or_before)
    ignored: list[dict[str, Any]] = []
    for review_date in reversed([d for d in review_dates(backend) if d <= day]):
        folder = reviews_folder(review_date)
        sealed, rejected = newest_trusted(backend, folder, REVIEW_BASES, ReviewManifest, trusted)
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
            raw = backend.get(path, limit=MAX_DOCUMENT_BYTES)
            attestation = parse(Attestation, raw).model_dump()
        except (ObjectMissing, NotRegularFile, ObjectTooLarge, Malformed) as exc:
            ignored.append({"path": path, "reason": str(exc)})
            continue
        problem = None
        if sha256_hex(raw) != listed[path]:
            problem = "it no longer matches its review manifest"
        elif attestation["date"] != review_date or not attestation["snapshot"]["path"].startswith(
                reports_folder(review_date) + "/"):
            problem = f"it reviews {attestation['date']} but is filed under {review_date}"
        if problem:
            ignored.append({"path": path, "reason": problem})
            continue
        signature = (check_stored_signature(read_document(backend), path, raw, trusted).state
                     if trusted is not None else None)
        return {**attestation, "date": review_date, "path": path, "signature": signature, "ignored": ignored}
    return None
