"""The day's report: checks.json, report.html and, last, manifest.json.

It runs after every raw and compliance asset of the day. The verdicts and API request counts come
from those assets' materializations of the same partition (the Dagster event log is their record);
the manifest itself is built from what is actually in the evidence store, re-read and re-hashed.
"""


from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.compliance.assets import COMPLIANCE_GROUP, RULES
from aircall_pipeline.evidence.resource import EvidenceResource
from aircall_pipeline.ingest.assets import OWNERS, key
from aircall_pipeline.ingest.partitions import daily_partitions

REPORT_KEY = key("evidence_report")
API_ASSETS = ("company", "users", "teams", "numbers", "calls")  # the ones whose metadata holds api_requests
RAW_TABLES = ("company", "users", "teams", "team_members", "numbers", "number_users", "calls", "call_windows")
EVIDENCE_TABLES = RAW_TABLES + tuple(rule.asset_name for rule in RULES)


def _latest_metadata(context: dg.AssetExecutionContext, table: str) -> dict:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key(table), asset_partitions=[context.partition_key]), limit=1
    ).records
    return records[0].asset_materialization.metadata if records else {}


def _value(metadata: dict, name: str, default=None):
    entry = metadata.get(name)
    return entry.value if entry is not None else default


def request_counts(per_asset: list[dict]) -> dict[str, dict[str, int]]:
    """Sum the per-endpoint request counts of several assets ({endpoint: {requests, rate_limited, retries}})."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for counts in per_asset:
        for endpoint, figures in (counts or {}).items():
            for name, n in figures.items():
                totals[endpoint][name] += int(n)
    return {endpoint: dict(figures) for endpoint, figures in sorted(totals.items())}


def _missing_check(rule) -> dict:
    spec = rule.spec
    return {"id": spec.check_id, "name": spec.name, "status": catalogue.ERROR, "observed": None,
            "threshold": "", "controls": list(spec.controls), "items_total": 0, "items": [],
            "reason": "The check has no result for this day (its asset was not materialized)."}


@dg.asset(
    key=REPORT_KEY,
    deps=[key(t) for t in EVIDENCE_TABLES],
    partitions_def=daily_partitions,
    group_name=COMPLIANCE_GROUP,
    owners=OWNERS,
    kinds={"python", "html", "json"},
    description="The day's evidence package for the auditor: checks.json, report.html and manifest.json "
                "(SHA-256, bytes and rows of every file, request counts, run id), written last so that "
                "a manifest only ever describes a complete day. Verify it with `aircall-pipeline verify`.",
)
def evidence_report(context: dg.AssetExecutionContext, evidence: EvidenceResource) -> dg.MaterializeResult:
    day = context.partition_key
    store = evidence.store()
    checks = []
    for rule in RULES:
        record = _value(_latest_metadata(context, rule.asset_name), "check")
        checks.append(record if record else _missing_check(rule))
    requests = request_counts([_value(_latest_metadata(context, t), "api_requests", {}) for t in API_ASSETS])
    company = store.read_table("company", day)
    manifest = store.write_report(
        day,
        checks=checks,
        tables=list(EVIDENCE_TABLES),
        manifest_fields={
            "run_id": context.run_id,
            "api_url": str(company["api_url"].iloc[0]) if len(company) else None,
            "company": str(company["name"].iloc[0]) if len(company) else None,
            "requests": requests,
            "collected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    statuses = defaultdict(int)
    for check in checks:
        statuses[check["status"]] += 1
    table = "\n".join(f"| {c['id']} | {c['name']} | **{c['status']}** | {c['observed']} | {c['threshold']} |"
                      for c in checks)
    return dg.MaterializeResult(metadata={
        "manifest": dg.MetadataValue.path(manifest.uri),
        "manifest_sha256": manifest.sha256,
        "artifacts": len(manifest.artifacts),
        "statuses": dg.MetadataValue.json(dict(statuses)),
        "requests": dg.MetadataValue.json(requests),
        "checks": dg.MetadataValue.md("| id | check | status | observed | threshold |\n|---|---|---|---|---|\n" + table),
    })
