"""The day's report: checks.json, report.html, manifest.json and its signature.

It runs after every raw and compliance asset of the day. The verdicts and API request counts come
from those assets' materializations of the same partition *in this run* (or the run it re-executes):
the Dagster event log is their record. The manifest itself is built from what is actually in the
evidence store, re-read and re-hashed.

The gate lives here, not only in step order: the report refuses to seal a day unless this run's
blocking checks (AC-01, AC-14) passed, and unless the files it is about to list are exactly those the
checks judged (their SHA-256 is recorded in every check's outcome). So materializing the report alone,
or a concurrent run writing a new `calls` attempt between the checks and the report, never produces
a manifest.
"""


from collections import defaultdict
from datetime import UTC, datetime, timedelta

import dagster as dg

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.compliance.assets import RULES
from aircall_pipeline.compliance.owner_inputs import sealed_policy
from aircall_pipeline.config.policy import CompliancePolicy, InputFileError, PolicyError
from aircall_pipeline.config.settings import Account
from aircall_pipeline.evidence.store import EvidenceStoreError
from aircall_pipeline.evidence.verify import shown
from aircall_pipeline.ingest.partitions import day_of
from aircall_pipeline.names import (
    API_TABLES,
    COMPLIANCE_GROUP,
    EVIDENCE_TABLES,
    OWNER_POLICY,
    OWNERS,
    TAMPER_METADATA,
    key,
    keys,
    report_key,
)
from aircall_pipeline.registry import AccountsResource
from aircall_pipeline.resources.evidence import EvidenceResource
from aircall_pipeline.resources.evidence_io_manager import markdown_text

# How far back in the partition's materializations to look for this run's: reruns of a day are few.
RECENT_MATERIALIZATIONS = 50
# A rejection's reason can quote a planted document (a malformed field's name): enough to say what is
# wrong, never a whole hostile document in the UI or an alert.
MAX_REASON_CHARS = 300


def _run_lineage(context: dg.AssetExecutionContext) -> set[str]:
    """This run and the runs it re-executes (re-execution "from failure" runs only the failed steps,
    so the verdicts it seals were reached by its parent runs)."""
    run = context.run
    ids = {run.run_id}
    while run is not None and run.parent_run_id and run.parent_run_id not in ids:
        ids.add(run.parent_run_id)
        run = context.instance.get_run_by_id(run.parent_run_id)
    return ids


def _metadata_in_runs(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, runs: set[str]) -> dict:
    """The newest materialization metadata of `asset_key` for this partition made by one of `runs`."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[context.partition_key]),
        limit=RECENT_MATERIALIZATIONS,
    ).records
    for record in records:
        if record.run_id in runs:
            return record.asset_materialization.metadata
    return {}


def _refuse(day: str, why: str) -> dg.Failure:
    return dg.Failure(
        description=f"The {day} evidence was not sealed: {why}",
        metadata={"kind": "not_sealed"},
        allow_retries=False,  # the same inputs give the same refusal
    )


def judged_files(checks: list[dict], findings: dict[str, dict]) -> dict[str, dict]:
    """table -> {path, sha256} that this run's checks evaluated (raw tables) or wrote (findings)."""
    judged: dict[str, dict] = {}
    for check in checks:
        for table, seen in (check.get("judged") or {}).items():
            if judged.setdefault(table, seen) != seen:
                raise ValueError(
                    f"two checks of this run judged different files of {table} ({judged[table]['path']} and "
                    f"{seen['path']}): another run wrote {table} while the checks ran"
                )
    judged.update(findings)
    return judged


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


def tamper_entries(new_rejections: list[dict]) -> list[dict]:
    """The objects this sealing rejected that no earlier attempt had recorded, as the report's
    metadata shows them (and the tamper sensor alerts on them): path, sha256 and reason as plain,
    control-escaped text, the reason cut to MAX_REASON_CHARS."""
    out = []
    for rejected in new_rejections:
        reason = shown(rejected.get("reason") or "")
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + "…"
        out.append({"path": shown(rejected["path"]), "sha256": rejected.get("sha256"), "reason": reason})
    return out


def tamper_metadata(new_rejections: list[dict]) -> dict[str, dg.MetadataValue]:
    """The report's `tamper` entry; always present (an empty list is the normal day), so the UI shows
    that the sealing looked."""
    return {TAMPER_METADATA: dg.MetadataValue.json(tamper_entries(new_rejections))}


def _missing_check(rule) -> dict:
    spec = rule.spec
    return {"id": spec.check_id, "name": spec.name, "status": catalogue.ERROR, "observed": None,
            "threshold": "", "controls": list(spec.controls), "items_total": 0, "items": [],
            "reason": "The check has no result for this day (its asset was not materialized)."}


def freshness(store, day: str) -> timedelta:
    """The freshness policy the day was judged under (its sealed owner_policy), for when the OSCAL
    observations expire; the default policy's when the sealed policy was unusable (its checks then say
    `error`, and the evidence still goes stale at some point)."""
    try:
        policy = sealed_policy(store.read_table(OWNER_POLICY, day))
    except (PolicyError, InputFileError):
        policy = CompliancePolicy()
    return timedelta(hours=policy.freshness_max_age_hours)


def build_report_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The report asset (every account's: the account of a run is its partition's)."""

    @dg.asset(
        key=report_key(),
        deps=keys(EVIDENCE_TABLES),
        partitions_def=partitions_def,
        group_name=COMPLIANCE_GROUP,
        owners=OWNERS,
        kinds={"python", "html", "json"},
        description="The day's evidence package for the auditor: checks.json, report.html, manifest.json "
                    "(SHA-256, bytes and rows of every file, request counts, run id) and its signature, "
                    "written last so that a manifest only ever describes a complete day. Verify it with "
                    "`aircall-pipeline verify`.",
    )
    def evidence_report(context: dg.AssetExecutionContext, accounts: AccountsResource,
                        evidence: EvidenceResource) -> dg.MaterializeResult:
        return seal_day(context, evidence, accounts.for_context(context))

    return evidence_report


def seal_day(context: dg.AssetExecutionContext, evidence: EvidenceResource, account: Account) -> dg.MaterializeResult:
    day = day_of(context.partition_key)
    store = evidence.store_for(account)
    runs = _run_lineage(context)
    checks, findings = [], {}
    for rule in RULES:
        metadata = _metadata_in_runs(context, key(rule.asset_name), runs)
        record = _value(metadata, "check")
        checks.append(record if record else _missing_check(rule))
        parquet = [a for a in _value(metadata, "artifacts", []) if a["path"].endswith(".parquet")]
        if parquet:
            findings[rule.asset_name] = {"path": parquet[0]["path"], "sha256": parquet[0]["sha256"]}
    blocked = [c for c, rule in zip(checks, RULES, strict=True) if rule.spec.blocking and c["status"] != catalogue.PASS]
    if blocked:
        raise _refuse(day, "the blocking check(s) " + ", ".join(f"{c['id']} ({c['status']})" for c in blocked)
                      + " did not pass in this run. A day is sealed only by the run that judged it complete: run "
                      "the whole job for this day (not the report alone) once the cause is fixed.")
    try:
        judged = judged_files(checks, findings)
    except ValueError as exc:
        raise _refuse(day, f"{exc}. Run the whole job for this day again.") from None
    signer = evidence.signer()
    if signer is None:
        context.log.warning(
            "EVIDENCE_SIGNING_KEY is not set: this day's manifest is marked unsigned, and `aircall-pipeline "
            "verify` cannot prove it authentic. Create a key with `aircall-pipeline keygen PATH`."
        )
    stamp = evidence.timestamper()
    if stamp is not None and signer is None:
        context.log.warning(
            "EVIDENCE_TSA_URL is set but EVIDENCE_SIGNING_KEY is not: only a signed manifest's statement is "
            "time-stamped, so this day gets no proof of time. Set EVIDENCE_SIGNING_KEY too."
        )
    requests = request_counts([_value(_metadata_in_runs(context, key(t), runs), "api_requests", {})
                               for t in API_TABLES])
    company = store.read_table("company", day)
    try:
        manifest = store.write_report(
            day,
            checks=checks,
            tables=list(EVIDENCE_TABLES),
            signer=signer,
            timestamper=stamp,
            judged=judged,
            fresh_for=freshness(store, day),
            manifest_fields={
                "run_id": context.run.run_id,
                "api_url": str(company["api_url"].iloc[0]) if len(company) else None,
                "company": str(company["name"].iloc[0]) if len(company) else None,
                "requests": requests,
                "collected_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )
    except EvidenceStoreError as exc:
        if exc.kind == "not_judged":
            raise _refuse(day, str(exc)) from None
        raise
    statuses = defaultdict(int)
    for check in checks:
        statuses[check["status"]] += 1
    table = "\n".join(f"| {c['id']} | {c['name']} | **{c['status']}** | {markdown_text(c['observed'])} | "
                      f"{markdown_text(c['threshold'])} |" for c in checks)
    return dg.MaterializeResult(metadata={
        "manifest": dg.MetadataValue.path(manifest.uri),
        "manifest_sha256": manifest.sha256,
        "signed": manifest.data["signing"]["status"] == "signed",
        "timestamped": "timestamp_file" in manifest.data["signing"],
        "artifacts": len(manifest.artifacts),
        "statuses": dg.MetadataValue.json(dict(statuses)),
        "requests": dg.MetadataValue.json(requests),
        "checks": dg.MetadataValue.md("| id | check | status | observed | threshold |\n|---|---|---|---|---|\n" + table),
        **tamper_metadata(manifest.new_rejections),
    })
