"""Sealing a day: `write_report` writes the day's report files, then the manifest's detached signature
(and timestamp token), then the manifest, as one write-once attempt chained to the day's earlier
attempts and to the previous sealed day. The day's sealed manifests are found again here too
(`report_dates`, `read_manifest`), by the same trust rule the chaining uses."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aircall_pipeline.evidence.attempts import (
    Content,
    Deferred,
    PriorAttempt,
    attempt_key,
    newest_trusted,
    prior_attempt,
    write_attempt,
)
from aircall_pipeline.evidence.backends import Backend
from aircall_pipeline.evidence.errors import EvidenceStoreError, NotRegularFile, ObjectMissing
from aircall_pipeline.evidence.intake import DEFAULT_FRESHNESS, SealedAttempt, intake_files
from aircall_pipeline.evidence.layout import (
    REPORT_BASES,
    REPORTS,
    ROOT,
    SEALED_REPORT_BASES,
    check_date,
    check_table,
    day_entry,
    parse_attempt_name,
    reports_folder,
    signature_path,
    table_folder,
    token_path,
)
from aircall_pipeline.evidence.manifest import (
    Artifact,
    Manifest,
    build_manifest_data,
    iso_utc,
    json_bytes,
    normalise_check,
)
from aircall_pipeline.evidence.report import ITEM_ROW_LIMIT, render_report
from aircall_pipeline.evidence.schemas import DailyManifest
from aircall_pipeline.evidence.signing import Signer, TrustedKey, sign_manifest, statement
from aircall_pipeline.evidence.stored import sha256_hex, stored_artifact
from aircall_pipeline.evidence.tables import table_paths
from aircall_pipeline.evidence.timestamping import TimestampError
from aircall_pipeline.version import __version__

log = logging.getLogger(__name__)

Timestamper = Callable[[bytes], bytes]


def _stamped(timestamper: Timestamper, message: bytes, what: str) -> bytes:
    try:
        return timestamper(message)
    except TimestampError as exc:
        raise EvidenceStoreError(
            f"{what} was not sealed: {exc} Nothing of this attempt was written (the timestamp is obtained "
            "before its first file), so no manifest lacks its proof of time; seal again once a TSA answers",
            kind="timestamp",
        ) from None


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


def write_report(
    backend: Backend,
    clock: Callable[[], datetime],
    date: Any,
    *,
    checks: list[dict[str, Any]],
    manifest_fields: dict[str, Any],
    tables: list[str],
    signer: Signer | None = None,
    judged: dict[str, dict[str, str]] | None = None,
    timestamper: Timestamper | None = None,
    fresh_for: timedelta = DEFAULT_FRESHNESS,
) -> Manifest:
    """`EvidenceStore.write_report` (its docstring says what each argument means), over `backend`,
    with `clock` saying when the attempt was sealed."""
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
    paths = {t: table_paths(backend, t, date) for t in table_names}
    missing = [t for t, p in paths.items() if p is None]
    if missing:
        raise EvidenceStoreError(
            f"the {date} report was not written: no evidence for {', '.join(missing)} on {date} in "
            f"{backend.uri}. Materialize those tables for {date} first; a day's manifest is only written "
            "when every file it lists is in place, so no partial day is presented as complete",
            kind="incomplete",
            uri=backend.uri,
        )
    table_artifacts = {t: [stored_artifact(backend, p) for p in paths[t]] for t in table_names}
    if judged is not None:
        _refuse_unjudged(backend, date, table_artifacts, judged)
    listed = [a for t in table_names for a in table_artifacts[t]]
    trusted_self = TrustedKey(signer.public_key, source="signer") if signer is not None else None
    previous, rejected_days = _previous_manifest_link(backend, date, trusted_self)
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
            checks_path = attempt_key(folder, "checks.json", number)
            report_path = attempt_key(folder, "report.html", number)

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
            manifest_path = attempt_key(folder, "manifest.json", number)
            # One instant for the manifest's sealed_at and the OSCAL observations' `collected`, in
            # whole milliseconds: OSCAL (trestle) writes no finer, and the two must say the same.
            sealed_at = clock()
            sealed_at = sealed_at.replace(microsecond=sealed_at.microsecond // 1000 * 1000)
            intake = intake_files(SealedAttempt(
                day=date, attempt=number, checks=checks_norm, findings_tables=findings_tables,
                report_dir=folder, manifest_path=manifest_path,
                manifest_uri=backend.full_uri(manifest_path), company=company,
                package_version=__version__, collected_at=_instant_or(collected_at, sealed_at),
                sealed_at=sealed_at, fresh_for=fresh_for), render_html)
            artifacts = listed + [
                Artifact(checks_path, sha256_hex(checks_data), len(checks_data), len(checks_norm)),
                Artifact(report_path, sha256_hex(html_data), len(html_data), None),
                *(Artifact(attempt_key(folder, base, number), sha256_hex(data), len(data),
                           len(checks_norm) if base.endswith(".jsonl") else None)
                  for base, data in intake),
            ]
            own = {a.path for a in artifacts} | {manifest_path, signature_path(manifest_path),
                                                 token_path(manifest_path)}
            prior, rejected = prior_attempt(backend, folder, number, trusted_self)
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
                    other_files=_other_files(backend, date, table_names, own),
                    rejected=rejected + rejected_days,
                    signing=signing_note(signer, manifest_path, timestamped=timestamper is not None),
                    sealed_at=sealed_at,
                )
            except ValueError as exc:
                raise EvidenceStoreError(
                    f"the {date} report was not written: {exc}", kind="invalid_input"
                ) from None
            manifest_bytes = json_bytes(data)
            new_rejections[number] = _new_rejections(rejected + rejected_days, prior)
            built[number] = ([("checks.json", checks_data), ("report.html", html_data), *intake,
                              *seal_files(signer, timestamper, manifest_path, manifest_bytes,
                                          f"the {date} report"),
                              ("manifest.json", manifest_bytes)], data)
        return built[number][0]

    number, wrote = write_attempt(backend, folder, SEALED_REPORT_BASES, build)
    files, data = built[number]
    manifest_bytes = files[-1][1]
    path = attempt_key(folder, "manifest.json", number)
    log.info(
        "%s the %s report (attempt %d, %s) in %s",
        "wrote" if wrote else "kept",
        date,
        number,
        "signed" if signer is not None else "UNSIGNED",
        backend.full_uri(folder),
    )
    return Manifest(
        data=data,
        path=path,
        sha256=sha256_hex(manifest_bytes),
        uri=backend.full_uri(path),
        bytes=len(manifest_bytes),
        new_rejections=new_rejections[number],
    )


def seal_files(signer: Signer | None, timestamper: Timestamper | None, path: str,
               manifest_bytes: bytes, what: str) -> list[tuple[str, Content]]:
    """The detached signature and timestamp of a manifest, written before it (see write_report).
    The token is deferred: asking the TSA only for the attempt actually written, not for the
    comparison with the newest attempt that `write_attempt` makes first."""
    if signer is None:
        return []
    signature = sign_manifest(signer, path, manifest_bytes)
    files: list[tuple[str, Content]] = [("manifest.sig", signature.to_json())]
    if timestamper is not None:
        message = statement(path, signature.bytes, signature.sha256)
        files.append(("manifest.tsr", Deferred(lambda: _stamped(timestamper, message, what))))
    return files


def _new_rejections(rejected: list[dict[str, Any]], prior: PriorAttempt | None) -> list[dict[str, Any]]:
    """The rejected objects this attempt found that the attempt it chains to had not recorded: what
    the tamper alert names, once."""
    known = {(r.get("path"), r.get("sha256")) for r in (prior.rejected if prior else [])}
    return [r for r in rejected if (r["path"], r.get("sha256")) not in known]


def _refuse_unjudged(
    backend: Backend, date: str, table_artifacts: dict[str, list[Artifact]], judged: dict[str, dict[str, str]]
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
            uri=backend.uri,
        )


def _other_files(backend: Backend, date: str, tables: list[str], own: set[str]) -> list[dict[str, Any]]:
    """Every other file in the day's folders when sealing (earlier attempts, interrupted runs),
    hashed, so that the newest manifest accounts for everything and a file added later stands out.
    A name no manifest may list (hidden, or not a regular file) is left for `verify` to report."""
    from aircall_pipeline.evidence.schemas import SAFE_PATH

    keys = [k for t in tables for k in backend.list(table_folder(t, date))]
    keys += backend.list(reports_folder(date))
    out = []
    for key in sorted(set(keys) - own):
        if not SAFE_PATH.match(key):
            continue
        try:
            out.append(stored_artifact(backend, key).as_dict())
        except (ObjectMissing, NotRegularFile):
            continue
    return out


def _report_days(backend: Backend) -> dict[str, dict[int, set[str]]]:
    """Every report date -> attempt number -> base names present."""
    out: dict[str, dict[int, set[str]]] = {}
    for key in backend.list(f"{ROOT}/{REPORTS}"):
        if not (entry := day_entry(key, REPORTS)):
            continue
        day, name = entry
        parsed = parse_attempt_name(name)
        if parsed and f"{parsed[0]}.{parsed[2]}" in REPORT_BASES:
            out.setdefault(day, {}).setdefault(parsed[1], set()).add(f"{parsed[0]}.{parsed[2]}")
    return out


def _previous_manifest_link(
    backend: Backend, date: str, trusted: TrustedKey | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The day-to-day link: the newest attempt, at this moment, of the most recent earlier sealed
    day that verifies against our key; and the newer attempts (or whole days) that do not."""
    rejected: list[dict[str, Any]] = []
    for earlier in sorted((d for d in _report_days(backend) if d < date), reverse=True):
        sealed, refused = newest_trusted(backend, reports_folder(earlier), REPORT_BASES, DailyManifest, trusted)
        rejected += refused
        if sealed is not None:
            return {"path": sealed.path, "sha256": sha256_hex(sealed.raw), "bytes": len(sealed.raw),
                    "date": earlier, "attempt": sealed.number}, rejected
    return None, rejected


def report_dates(backend: Backend) -> list[str]:
    """Dates (oldest first) that have a manifest, i.e. a complete day of evidence."""
    return sorted(
        d
        for d, attempts in _report_days(backend).items()
        if any("manifest.json" in names for names in attempts.values())
    )


def read_manifest(backend: Backend, date: Any, trusted: TrustedKey | None = None) -> Manifest | None:
    """`EvidenceStore.read_manifest`: the day's newest manifest that can be trusted, or None."""
    date = check_date(date)
    sealed, rejected = newest_trusted(backend, reports_folder(date), REPORT_BASES, DailyManifest, trusted)
    if sealed is None:
        if not rejected:
            return None
        raise EvidenceStoreError(
            f"no manifest of {date} in {backend.uri} can be trusted: "
            + "; ".join(f"{r['path']} ({r['reason']})" for r in rejected)
            + ". Run `aircall-pipeline verify` on this day",
            kind="untrusted",
            uri=backend.full_uri(reports_folder(date)),
        )
    for r in rejected:
        log.warning("ignored %s: %s", r["path"], r["reason"])
    return Manifest(data=sealed.data, path=sealed.path, sha256=sha256_hex(sealed.raw),
                    uri=backend.full_uri(sealed.path), bytes=len(sealed.raw), ignored=rejected)


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
