"""One Dagster asset per compliance check: its findings table is evidence, its asset check the verdict.

The rule itself lives in rules.py (pure pandas); this module only says which tables each rule
reads (the `RULES` table) and turns a `CheckOutcome` into an asset output plus an
`AssetCheckResult`; `build_compliance_assets(names, partitions_def)` makes one account's set. The checks are
emitted from inside the asset (check_specs) so that the day's report, downstream of every
compliance asset, always runs after every verdict is known; AC-01 and AC-14 are blocking, so an
incomplete day stops before the report and never becomes evidence.
"""


import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from aircall_pipeline.compliance import catalogue, egress, rules
from aircall_pipeline.compliance.catalogue import CheckSpec
from aircall_pipeline.compliance.policy import CompliancePolicy
from aircall_pipeline.compliance.resources import ComplianceResource
from aircall_pipeline.compliance.review import access_review
from aircall_pipeline.evidence.resource import EvidenceResource
from aircall_pipeline.evidence.signing import TrustedKey
from aircall_pipeline.evidence.store import READ_FROM, EvidenceStore
from aircall_pipeline.names import CHECK_TAG, OWNERS, SINGLE_ACCOUNT, Names
from aircall_pipeline.operations import freshness

MAX_ITEMS_IN_METADATA = 100
ONE_SECOND = timedelta(seconds=1)


@dataclass
class RuleInputs:
    """What a rule may need beyond the day's tables: the policy, history, and the clock."""

    date: str
    day_start: datetime
    day_end: datetime
    tz: str  # the partitions' timezone: evidence days start at midnight there
    now: datetime
    policy: CompliancePolicy
    compliance: ComplianceResource
    store: EvidenceStore
    tables: dict[str, pd.DataFrame]
    # The evidence key's public half: AC-16 counts only reviews this key signed.
    trusted: TrustedKey | None = None
    names: Names = SINGLE_ACCOUNT
    instance: dg.DagsterInstance | None = None  # where the freshness sensor also looks (AC-15)


@dataclass(frozen=True)
class Rule:
    spec: CheckSpec
    tables: tuple[str, ...]  # the day's tables, loaded through the IO manager
    evaluate: Callable[[RuleInputs], rules.CheckOutcome]
    history: tuple[str, ...] = ()  # tables read from earlier evidence days (ordering-only deps)
    configured_by: tuple[str, ...] = ()  # CompliancePolicy fields the owner must set, or the rule skips

    @property
    def asset_name(self) -> str:
        return self.spec.table


def _previous_users(i: RuleInputs) -> tuple[pd.DataFrame | None, str | None]:
    earlier = [d for d in i.store.dates("users") if d < i.date]
    if not earlier:
        return None, None
    return i.store.read_table("users", earlier[-1]), earlier[-1]


def _call_activity(i: RuleInputs) -> tuple[pd.DataFrame, datetime | None, datetime]:
    """Per-user activity over the stored call days within the dormancy window, streamed one day at a
    time (two columns each), and the contiguous window those days actually cover."""
    first = (date.fromisoformat(i.date) - timedelta(days=i.policy.dormant_days - 1)).isoformat()
    days = [d for d in i.store.dates("calls") if first <= d <= i.date]
    frames = (i.store.read_table("calls", d, columns=["user_id", "started_at"]) for d in days)
    activity = rules.activity_from_calls(frames)
    covered_from = None
    expected = date.fromisoformat(i.date)
    for d in reversed(days):  # walk back from the evidence day while no day is missing
        if date.fromisoformat(d) != expected:
            break
        covered_from, expected = d, expected - timedelta(days=1)
    # Partition days start at midnight in the partitions' timezone, not necessarily UTC.
    tz = ZoneInfo(i.tz)
    start = datetime.combine(date.fromisoformat(covered_from), datetime.min.time(), tz) if covered_from else None
    return activity, start, i.day_end


def _dormant(i: RuleInputs) -> rules.CheckOutcome:
    activity, covered_from, covered_to = _call_activity(i)
    return rules.dormant_accounts(i.tables["users"], activity, as_of=i.day_end, covered_from=covered_from,
                                  covered_to=covered_to, days=i.policy.dormant_days)


def _access_review(i: RuleInputs) -> rules.CheckOutcome:
    review = i.store.latest_review(i.date, i.trusted)
    return access_review(i.tables["users"], review, as_of=i.day_end, max_age_days=i.policy.access_review_max_age_days,
                         signature=review.get("signature") if review else None)

def _evidence_freshness(i: RuleInputs) -> rules.CheckOutcome:
    """AC-15, as the freshness sensor sees it at this moment: the newest evidence report of the
    instance (an earlier day's, or an earlier attempt of this one) against the policy's age."""
    newest = freshness.newest_evidence(i.instance, i.names.report_key) if i.instance is not None else None
    return freshness.evidence_freshness_check(newest.timestamp if newest else None, i.now.timestamp(),
                                              timedelta(hours=i.policy.freshness_max_age_hours))


def _access_changes(i: RuleInputs) -> rules.CheckOutcome:
    previous, previous_date = _previous_users(i)
    return rules.access_changes(i.tables["users"], previous, previous_date=previous_date)


RULES: tuple[Rule, ...] = (
    Rule(catalogue.AC_01, ("users", "company"), lambda i: rules.user_inventory(i.tables["users"], i.tables["company"])),
    Rule(catalogue.AC_02, ("users",), lambda i: rules.privileged_access(
        i.tables["users"], i.compliance.roles(i.policy), min_admins=i.policy.min_admins,
        max_admins=i.policy.max_admins, privileged_roles=i.policy.privileged_roles),
        configured_by=("roles_uri",)),
    Rule(catalogue.AC_03, ("users",), lambda i: rules.offboarding(
        i.tables["users"], i.compliance.roster(i.policy), as_of=i.now, sla_hours=i.policy.offboarding_sla_hours,
        active_statuses=i.policy.active_statuses, terminated_statuses=i.policy.terminated_statuses,
        suspended_statuses=i.policy.suspended_statuses),
        configured_by=("roster_uri",)),
    Rule(catalogue.AC_04, ("users",), lambda i: rules.unmatched_accounts(
        i.tables["users"], i.compliance.roster(i.policy), exceptions=i.policy.exceptions),
        configured_by=("roster_uri",)),
    Rule(catalogue.AC_05, ("users",), lambda i: rules.shared_accounts(
        i.tables["users"], patterns=i.policy.shared_patterns, exceptions=i.policy.exceptions)),
    Rule(catalogue.AC_06, ("users",), _dormant, history=("calls",)),
    Rule(catalogue.AC_07, ("users",), _access_changes),
    Rule(catalogue.AC_08, ("users", "teams", "team_members"), lambda i: rules.team_coverage(
        i.tables["users"], i.tables["teams"], i.tables["team_members"])),
    Rule(catalogue.AC_09, ("numbers", "number_users", "company"), lambda i: rules.number_inventory(
        i.tables["numbers"], i.tables["number_users"], i.tables["company"])),
    Rule(catalogue.AC_10, ("calls", "numbers", "teams"), lambda i: rules.recording_posture(
        i.tables["calls"], policy=i.policy.recording_policy, min_share=i.policy.recording_min_share,
        numbers=i.tables["numbers"], teams=i.tables["teams"], tz=i.tz)),
    Rule(catalogue.AC_11, ("webhooks",), lambda i: egress.webhook_egress(
        i.tables["webhooks"], approved_domains=i.policy.approved_webhook_domains,
        max_webhooks=i.policy.max_webhooks), configured_by=("approved_webhook_domains",)),
    # call_windows hold the API's own query bounds, `from` exclusive and `to` inclusive, so the day
    # [start, end) is the API window (start - 1 s, end - 1 s].
    Rule(catalogue.AC_14, ("call_windows",), lambda i: rules.calls_completeness(
        i.tables["call_windows"], period_from=i.day_start - ONE_SECOND, period_to=i.day_end - ONE_SECOND)),
    # It reads no table of the day (the report it measures is downstream of every check); the
    # ordering-only dependency on `company` keeps it, like every check, from writing evidence for a
    # day whose collection failed (a rejected key writes nothing at all).
    Rule(catalogue.AC_15, (), _evidence_freshness, history=("company",)),
    Rule(catalogue.AC_16, ("users",), _access_review),
)


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def outcome_record(outcome: rules.CheckOutcome) -> dict:
    """The check as it appears in checks.json and in the asset's materialization metadata."""
    findings = outcome.findings
    flagged = findings[findings["status"] != catalogue.PASS] if "status" in findings else findings
    return _jsonable({
        "id": outcome.check_id, "name": outcome.name, "status": outcome.status, "observed": outcome.observed,
        "threshold": outcome.threshold, "controls": list(outcome.controls), "reason": outcome.reason,
        "items_total": len(flagged), "items": flagged.head(1000).to_dict(orient="records"),
    })


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


def build_compliance_asset(rule: Rule, names: Names, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    spec = rule.spec
    asset_key = names.key(rule.asset_name)
    compliance_key, evidence_key = names.resource("compliance"), names.resource("evidence")

    @dg.asset(
        key=asset_key,
        ins={t: dg.AssetIn(key=names.key(t)) for t in rule.tables},
        deps=names.keys(rule.history),
        check_specs=[dg.AssetCheckSpec(spec.name, asset=asset_key, blocking=spec.blocking, description=spec.title)],
        partitions_def=partitions_def,
        group_name=names.compliance_group,
        owners=OWNERS,
        kinds={"python", "pandas", "parquet"},
        description=f"{spec.check_id} {spec.title}. Controls: {', '.join(spec.controls)}. "
                    "One row per evaluated or offending item, with the reason.",
        tags={CHECK_TAG: spec.check_id},
        required_resource_keys={compliance_key, evidence_key},
        io_manager_key=names.resource("io_manager"),
    )
    def _asset(context: dg.AssetExecutionContext, **tables: pd.DataFrame) -> Iterator:
        compliance: ComplianceResource = getattr(context.resources, compliance_key)
        evidence: EvidenceResource = getattr(context.resources, evidence_key)
        window = context.partition_time_window
        unconfigured: tuple[str, ...] = ()
        try:
            policy = compliance.policy()
            inputs = RuleInputs(date=context.partition_key, day_start=window.start.astimezone(UTC),
                                day_end=window.end.astimezone(UTC), tz=context.assets_def.partitions_def.timezone,
                                now=datetime.now(UTC), policy=policy, compliance=compliance,
                                store=evidence.store(), tables=tables, instance=context.instance,
                                trusted=trusted_key(evidence), names=names)
            outcome = rule.evaluate(inputs)
            unconfigured = tuple(name for name in rule.configured_by if not getattr(policy, name, None))
        except (OSError, ValueError, KeyError) as exc:
            # An input the rule needs is broken (e.g. an unreadable roster): the check says `error`
            # and the rest of the day's evidence still completes.
            context.log.error(f"{spec.check_id} could not run: {exc}")
            outcome = rules.error_outcome(spec, exc)
        record = outcome_record(outcome)
        # The exact stored files this verdict was reached on: the day's report lists nothing else.
        record["judged"] = {t: f.attrs[READ_FROM] for t, f in tables.items() if READ_FROM in f.attrs}
        yield dg.Output(outcome.findings, metadata={
            "check": dg.MetadataValue.json(record),
            "status": outcome.status,
            "observed": dg.MetadataValue.text(str(outcome.observed)),
        })
        yield check_result(spec, outcome, record, unconfigured)

    return _asset


def build_compliance_assets(names: Names, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [build_compliance_asset(rule, names, partitions_def) for rule in RULES]
