"""`assessment-results.json`: one sealed day's checks as an OSCAL Assessment Results document.

Built with compliance-trestle's pydantic models, so a document that the OSCAL schema would refuse is
never written (building it raises). The shape:

- each check is an `Observation` (method TEST): its id, status, observed figure and threshold as
  properties, every file it judged (and its findings table) as `relevant-evidence` with the file's
  SHA-256, `collected` at the sealing time and `expires` when the freshness policy says the evidence
  is stale (sealed + freshness_max_age_hours: AC-15 fails after that);
- each control a check maps to is a `Finding` whose target is the control's objective id in the
  shipped catalog (`controls.py`), `satisfied` only when every check mapped to it passed that day.

Deterministic: the same inputs give the same bytes (uuid5 ids over the day and the check or control,
sorted keys), so a rerun that changes nothing produces a byte-identical document.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from trestle.oscal import OSCAL_VERSION
from trestle.oscal import common as oscal
from trestle.oscal.assessment_results import AssessmentResults, ImportAp, Result

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.compliance.oscal.controls import NS, control
from aircall_pipeline.evidence.manifest import Artifact, json_bytes
from aircall_pipeline.evidence.report import href

# uuid5 namespace of every id in these documents (fixed forever: changing it changes every uuid).
NAMESPACE = uuid.UUID("0b5c8f0e-4d36-5a8e-9c61-2f7a3d9e1b24")
SATISFIED, NOT_SATISFIED = "satisfied", "not-satisfied"
_SPACE = re.compile(r"\s+")


def stable_uuid(*parts: str) -> str:
    """The same uuid for the same parts: `stable_uuid(day, "observation", "AC-01")`."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _value(value: Any) -> str | None:
    """A property value (OSCAL: no newline, no surrounding space, not empty), or None to leave it out."""
    if value is None:
        return None
    if isinstance(value, dict | list | tuple):
        value = json_bytes(value).decode("utf-8")
    text = _SPACE.sub(" ", str(value)).strip()
    return text or None


def _props(**values: Any) -> list[oscal.Property] | None:
    props = [oscal.Property(name=name.replace("_", "-"), ns=NS, value=text)
             for name, value in values.items() if (text := _value(value)) is not None]
    return props or None


def _evidence(check: Mapping[str, Any], findings: Artifact | None, report_dir: str) -> list[oscal.RelevantEvidence]:
    """Every file the check judged (its `judged` record), then its own findings table."""
    evidence = []
    for table, seen in sorted((check.get("judged") or {}).items()):
        if isinstance(seen, Mapping) and seen.get("path"):
            evidence.append(oscal.RelevantEvidence(
                href=href(str(seen["path"]), report_dir),
                description=f"The {table} table this check judged, as stored in the evidence.",
                props=_props(table=table, sha256=seen.get("sha256"), role="judged")))
    if findings is not None:
        evidence.append(oscal.RelevantEvidence(
            href=href(findings.path, report_dir),
            description="The findings this check wrote: one row per evaluated or offending item.",
            props=_props(sha256=findings.sha256, rows=findings.rows, role="findings")))
    return evidence


def _observation(day: str, check: Mapping[str, Any], findings: Artifact | None, report_dir: str,
                 sealed_at: datetime, fresh_for: timedelta) -> oscal.Observation:
    spec = catalogue.BY_ID.get(str(check["id"]))
    title = spec.title if spec else str(check.get("name") or check["id"])
    return oscal.Observation(
        uuid=stable_uuid(day, "observation", str(check["id"])),
        title=_value(f"{check['id']} {check.get('name') or ''}"),
        description=title,
        props=_props(check_id=check["id"], status=check["status"], observed=check.get("observed"),
                     threshold=check.get("threshold"), items_flagged=check.get("items_total"),
                     controls=", ".join(map(str, check.get("controls") or []))),
        methods=["TEST"],
        relevant_evidence=_evidence(check, findings, report_dir) or None,
        collected=sealed_at,
        # Past this instant AC-15 calls the evidence stale: a platform should stop relying on it.
        expires=sealed_at + fresh_for,
        remarks=_value(check.get("reason")),
    )


def control_state(statuses: Sequence[str]) -> tuple[str, str]:
    """(state, reason) of a control from the statuses of the checks mapped to it: satisfied only when
    all passed; a fail or error is a `fail`; a warn or skip (never judged, or judged not clean) leaves
    it not satisfied for an `other` reason, because a check that did not pass proves nothing."""
    if statuses and all(s == catalogue.PASS for s in statuses):
        return SATISFIED, "pass"
    if any(s in (catalogue.FAIL, catalogue.ERROR) for s in statuses):
        return NOT_SATISFIED, "fail"
    return NOT_SATISFIED, "other"


def _findings(day: str, checks: Sequence[Mapping[str, Any]], observations: dict[str, str]) -> list[oscal.Finding]:
    mapped: dict[str, list[Mapping[str, Any]]] = {}
    for check in checks:
        for mapping in dict.fromkeys(map(str, check.get("controls") or [])):
            mapped.setdefault(mapping, []).append(check)
    findings = []
    for mapping, judged_by in sorted(mapped.items(), key=lambda kv: control(kv[0])["id"]):
        entry = control(mapping)
        state, reason = control_state([c["status"] for c in judged_by])
        by = ", ".join(f"{c['id']} {c['status']}" for c in judged_by)
        findings.append(oscal.Finding(
            uuid=stable_uuid(day, "finding", entry["id"]),
            title=f"{entry['label']} {entry['title']}",
            description=f"{entry['framework_title']} {entry['label']} on {day}: {state} ({by}).",
            props=_props(framework=entry["framework"], control=mapping),
            target=oscal.FindingTarget(
                type="objective-id", target_id=entry["id"], title=entry["title"],
                status=oscal.ObjectiveStatus(state=state, reason=reason)),
            related_observations=[oscal.RelatedObservation(observation_uuid=observations[str(c["id"])])
                                  for c in judged_by],
        ))
    return findings


def _reviewed(findings: list[oscal.Finding]) -> oscal.ReviewedControls:
    if not findings:
        # OSCAL requires one selection at least, and an explicit list may not be empty: a day whose
        # checks map to no control (never one the pipeline seals) says so in the selection's words.
        return oscal.ReviewedControls(control_selections=[oscal.ControlSelectionsAll(
            description="No check of the day maps to a control: no control was judged.",
            include_all=oscal.IncludeAll())])
    return oscal.ReviewedControls(control_selections=[oscal.ControlSelections(
        description="The controls the day's checks map to.",
        include_controls=[oscal.SelectControlById(control_id=f.target.target_id) for f in findings])])


def assessment_results(
    *,
    day: str,
    attempt: int,
    checks: Sequence[Mapping[str, Any]],
    findings_tables: Mapping[str, Artifact],
    report_dir: str,
    manifest_path: str,
    company: Any,
    package_version: str,
    collected_at: datetime,
    sealed_at: datetime,
    fresh_for: timedelta,
) -> AssessmentResults:
    """The day's document. `findings_tables`: check id -> the Parquet artifact of its findings table;
    `report_dir`: the folder the document is stored in (evidence hrefs are relative to it)."""
    observations = [_observation(day, c, findings_tables.get(str(c["id"])), report_dir, sealed_at, fresh_for)
                    for c in checks]
    by_check = {str(c["id"]): o.uuid for c, o in zip(checks, observations, strict=True)}
    findings = _findings(day, checks, by_check)
    plan = stable_uuid(day, "assessment-plan")
    return AssessmentResults(
        uuid=stable_uuid(day, "assessment-results", str(attempt)),
        metadata=oscal.Metadata(
            title=_value(f"Aircall compliance evidence: {company or 'unknown company'} {day}"),
            last_modified=sealed_at,
            version=f"{day}.{attempt}",
            oscal_version=OSCAL_VERSION,
            props=_props(pipeline_version=package_version),
        ),
        # There is no separate OSCAL assessment plan: the check catalogue of this pipeline version is the
        # plan, described in the back matter so that the required reference resolves inside the document.
        import_ap=ImportAp(href=f"#{plan}"),
        results=[Result(
            uuid=stable_uuid(day, "result"),
            title=f"Aircall compliance checks of {day}",
            description=f"Every check of the {day} evidence, as sealed in attempt {attempt}; "
                        f"{manifest_path} lists and signs this file with the files it cites.",
            start=min(collected_at, sealed_at),
            end=sealed_at,
            props=_props(date=day, attempt=attempt, manifest=manifest_path),
            reviewed_controls=_reviewed(findings),
            observations=observations or None,
            findings=findings or None,
        )],
        back_matter=oscal.BackMatter(resources=[oscal.Resource(
            uuid=plan,
            title=f"aircall_pipeline {package_version} check catalogue",
            description="The assessment plan: every check of the pipeline's catalogue (compliance/catalogue.py), "
                        "run daily against the Aircall API under the owner's policy sealed with the day.",
        )]),
    )


def document_bytes(results: AssessmentResults) -> bytes:
    """The file's bytes: `{"assessment-results": ...}` as canonical JSON (sorted keys, same input same bytes)."""
    return json_bytes(results.oscal_dict())
