"""What an audit package says about its period: one OSCAL Assessment Results document, the
control-by-control summary (JSON, Markdown, CSV) and the `verify` transcript."""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from aircall_pipeline.compliance.oscal.assessment import control_state, stable_uuid
from aircall_pipeline.compliance.oscal.controls import control
from aircall_pipeline.evidence.day_tables import OWNER_POLICY
from aircall_pipeline.evidence.layout import ROOT, reports_folder
from aircall_pipeline.evidence.manifest import iso_utc, json_bytes
from aircall_pipeline.evidence.package_layout import EVIDENCE, OSCAL
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.version import __version__


@dataclass
class PackagedDay:
    """One verified day going into the package, with the sealed documents read back."""

    date: str
    verification: Any
    manifest: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    oscal: dict[str, Any] | None = None
    oscal_path: str | None = None



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


def _fallback_result(day: PackagedDay) -> dict[str, Any]:
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


def period_assessment_results(days: list[PackagedDay], start: str, end: str, now: datetime) -> dict[str, Any]:
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


def control_summary(store: Any, days: list[PackagedDay], trusted: TrustedKey, sample: list[str] | None) -> dict[str, Any]:
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


# ---- the verify transcript ---------------------------------------------------------------------


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

