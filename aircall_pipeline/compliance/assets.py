"""One Dagster asset per compliance check: its findings table is evidence, its asset check the verdict.

The rule itself lives in rules/ (pure pandas) and the `RULES` table that says which tables each rule
reads in rule_table.py; this module turns a rule into an asset whose inputs are those tables, read
through the evidence IO manager (the sealed owner tables included, so the policy, roles and roster a
check judged are files of the day, listed in its `judged`), and its `CheckOutcome` into an asset
output plus an `AssetCheckResult`; `build_compliance_assets(names, partitions_def)` makes one
set: one asset per rule for every account (the account of a run is its partition's). The checks are emitted from inside the asset (check_specs) so that the day's report,
downstream of every compliance asset, always runs after every verdict is known; AC-01 and AC-14 are
blocking, so an incomplete day stops before the report and never becomes evidence.
"""


from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from aircall_pipeline.compliance import catalogue, rules
from aircall_pipeline.compliance.catalogue import CheckSpec
from aircall_pipeline.compliance.newest_evidence import newest_evidence
from aircall_pipeline.compliance.rule_inputs import JUDGED, RuleInputs, StoreHistory, reperformance_fields
from aircall_pipeline.compliance.rule_table import RULES, Rule, evaluate, outcome_record
from aircall_pipeline.config.settings import Account
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.evidence.store import READ_FROM
from aircall_pipeline.ingest.partitions import day_of, day_window
from aircall_pipeline.names import (
    ACCOUNTS_RESOURCE,
    CHECK_TAG,
    COMPLIANCE_GROUP,
    EVIDENCE_RESOURCE,
    IO_MANAGER,
    OWNERS,
    key,
    keys,
    report_key,
)
from aircall_pipeline.resources.evidence import EvidenceResource

# RULES, Rule, RuleInputs and outcome_record live in plain modules (re-performance uses them without
# Dagster); they are re-exported here for the callers that know them from this module.
__all__ = ["RULES", "Rule", "RuleInputs", "build_compliance_asset", "build_compliance_assets", "check_result",
           "outcome_record", "trusted_key"]

MAX_ITEMS_IN_METADATA = 100


def check_result(spec: CheckSpec, outcome: rules.CheckOutcome, record: dict,
                 unconfigured: tuple[str, ...] = ()) -> dg.AssetCheckResult:
    """The asset check of `outcome`. `unconfigured`: the policy fields the rule needs that are unset."""
    # skip is reported as a WARN failure on purpose: a check that could not run must never look green.
    passed = outcome.status == catalogue.PASS
    severity = (dg.AssetCheckSeverity.ERROR
                if outcome.status in (catalogue.FAIL, catalogue.ERROR) and spec.severity == catalogue.SEVERITY_ERROR
                else dg.AssetCheckSeverity.WARN)
    shown = record["items"][:MAX_ITEMS_IN_METADATA]
    ids = [str(item.get("item_id")) for item in shown]
    labels = [str(item.get("item_label") or item.get("item_id")) for item in shown]
    cause = {}
    if outcome.status == catalogue.SKIP and unconfigured:
        cause = {catalogue.SKIP_CAUSE: catalogue.MISSING_CONFIGURATION,
                 catalogue.MISSING_CONFIGURATION: dg.MetadataValue.json(list(unconfigured))}
    return dg.AssetCheckResult(
        check_name=spec.name,
        passed=passed,
        severity=severity,
        description=f"{outcome.status.upper()}: {outcome.reason}",
        metadata={
            catalogue.CHECK_ID_KEY: spec.check_id,
            "status": outcome.status,
            **cause,
            "observed": dg.MetadataValue.text(str(outcome.observed)),
            "threshold": dg.MetadataValue.text(outcome.threshold),
            "controls": dg.MetadataValue.text(", ".join(outcome.controls)),
            "items_flagged": record["items_total"],
            "item_ids": dg.MetadataValue.json(ids),
            "item_labels": dg.MetadataValue.json(labels),
        },
    )


def trusted_key(evidence: EvidenceResource) -> TrustedKey | None:
    """The evidence key's public half: the only key whose review attestations count (AC-16)."""
    signer = evidence.signer()
    return TrustedKey(signer.public_key, source="the evidence signing key") if signer else None


def build_compliance_asset(rule: Rule, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    spec = rule.spec
    asset_key = key(rule.asset_name)

    @dg.asset(
        key=asset_key,
        # A rule that reads only some columns of a table gets only those (the IO manager reads no more).
        ins={t: dg.AssetIn(key=key(t), metadata={"columns": list(rule.columns[t])}
                           if rule.columns and t in rule.columns else None) for t in rule.reads},
        deps=keys(rule.history),
        check_specs=[dg.AssetCheckSpec(spec.name, asset=asset_key, blocking=spec.blocking, description=spec.title)],
        partitions_def=partitions_def,
        group_name=COMPLIANCE_GROUP,
        owners=OWNERS,
        kinds={"python", "pandas", "parquet"},
        description=f"{spec.check_id} {spec.title}. Controls: {', '.join(spec.controls)}. "
                    "One row per evaluated or offending item, with the reason.",
        tags={CHECK_TAG: spec.check_id},
        required_resource_keys={ACCOUNTS_RESOURCE, EVIDENCE_RESOURCE},
        io_manager_key=IO_MANAGER,
    )
    def _asset(context: dg.AssetExecutionContext, **tables: pd.DataFrame) -> Iterator:
        # Resources by key: the inputs are the rule's tables (keyword arguments), so the resources
        # cannot also be typed parameters of this one generic body.
        account: Account = context.resources.accounts.for_context(context)
        evidence: EvidenceResource = context.resources.evidence
        day = day_of(context.partition_key)
        start, end = day_window(day, account.timezone)
        history = StoreHistory(evidence.store_for(account), trusted_key(evidence))

        def newest_report() -> float | None:
            newest = newest_evidence(context.instance, report_key(), account=account.key)
            return newest.timestamp if newest else None

        inputs = RuleInputs(date=day, day_start=start, day_end=end, tz=account.timezone,
                            now=datetime.now(UTC), tables=tables, history=history, newest_report=newest_report)
        outcome, cause = evaluate(rule, inputs)
        if cause is not None:
            context.log.error(f"{spec.check_id} could not run: {cause}")
        unconfigured = (tuple(name for name in rule.configured_by if not getattr(inputs.policy, name, None))
                        if outcome.status == catalogue.SKIP else ())
        record = outcome_record(outcome)
        # The exact stored files this verdict was reached on: the day's report lists nothing else.
        record[JUDGED] = {t: f.attrs[READ_FROM] for t, f in tables.items() if READ_FROM in f.attrs}
        # And what an auditor needs to recompute it from the evidence alone (compliance/reperform.py).
        record.update(reperformance_fields(inputs, history.record))
        yield dg.Output(outcome.findings, metadata={
            "check": dg.MetadataValue.json(record),
            "status": outcome.status,
            "observed": dg.MetadataValue.text(str(outcome.observed)),
        })
        yield check_result(spec, outcome, record, unconfigured)

    return _asset


def build_compliance_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [build_compliance_asset(rule, partitions_def) for rule in RULES]
