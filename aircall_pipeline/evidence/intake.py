"""The files of a report attempt that compliance platforms take in, built beside report.html:

- `report.pdf`: the report page as a PDF (`pdf.py`), rendered from the same template with fewer item
  rows per check (the CSV link and checks.json have every item; a PDF of thousands of rows is slow to
  render and nobody reads it);
- `assessment-results.json`: the checks as OSCAL Assessment Results (`compliance/oscal/assessment.py`);
- `records.jsonl`: one flat record per check (`compliance/records.py`).

They are written before the manifest, which lists them with their SHA-256 and is signed over them,
so each is as provable as checks.json. Manifest version 4 requires them (`verify._check_content`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aircall_pipeline.compliance.oscal.assessment import assessment_results, document_bytes
from aircall_pipeline.compliance.records import records_bytes
from aircall_pipeline.evidence.manifest import Artifact
from aircall_pipeline.evidence.pdf import render_pdf

# The AC-15 default (`CompliancePolicy.freshness_max_age_hours`) when the caller gives no policy.
DEFAULT_FRESHNESS = timedelta(hours=30)
PDF_ITEM_ROW_LIMIT = 50


@dataclass(frozen=True)
class SealedAttempt:
    """What one report attempt is about, as the store knows it while building the attempt."""

    day: str
    attempt: int
    checks: Sequence[Mapping[str, Any]]
    findings_tables: Mapping[str, Artifact]  # check id -> Parquet artifact of its findings table
    report_dir: str
    manifest_path: str
    manifest_uri: str
    company: Any
    package_version: str
    collected_at: datetime
    sealed_at: datetime
    fresh_for: timedelta


def _aware(instant: datetime) -> datetime:
    """OSCAL instants carry their offset; the store's clock and the manifest take naive ones as UTC."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def intake_files(sealed: SealedAttempt, render_html: Callable[[int], str]) -> list[tuple[str, bytes]]:
    """[(base name, bytes)] of report.pdf, assessment-results.json and records.jsonl, in that order.
    `render_html(item_limit)` is the report page's HTML with at most that many item rows per check."""
    sealed_at, collected_at = _aware(sealed.sealed_at), _aware(sealed.collected_at)
    results = assessment_results(
        day=sealed.day, attempt=sealed.attempt, checks=sealed.checks, findings_tables=sealed.findings_tables,
        report_dir=sealed.report_dir, manifest_path=sealed.manifest_path, company=sealed.company,
        package_version=sealed.package_version, collected_at=collected_at, sealed_at=sealed_at,
        fresh_for=sealed.fresh_for)
    return [
        ("report.pdf", render_pdf(render_html(PDF_ITEM_ROW_LIMIT))),
        ("assessment-results.json", document_bytes(results)),
        ("records.jsonl", records_bytes(sealed.day, sealed.attempt, sealed.checks, sealed.findings_tables,
                                        sealed.manifest_uri)),
    ]
