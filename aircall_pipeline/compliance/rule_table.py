"""The `RULES` table: each check, the tables it reads, and how its rule function is called.

The rule functions themselves are pure pandas (rules/); this table says which of the day's tables
each one reads (every rule also reads `owner_policy`, the sealed policy it is judged under), what it
reads from earlier days (`history`), and how its `RuleInputs` become the rule's arguments. The
Dagster assets (assets.py) and the auditor's re-performance (reperform.py) both evaluate a check
through `evaluate` here, so there is one way a check is computed. No Dagster imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from aircall_pipeline.compliance import catalogue, rules
from aircall_pipeline.compliance.catalogue import CheckSpec
from aircall_pipeline.compliance.rule_inputs import RuleInputs
from aircall_pipeline.evidence.day_tables import OWNER_POLICY, OWNER_ROLES, OWNER_ROSTER
from aircall_pipeline.jsonable import json_dumps_round_trip

ONE_SECOND = timedelta(seconds=1)
# What a rule raises when an input it needs is broken (an unreadable roster, a bad policy): the
# check says `error` and the rest of the day still completes. Anything else is a bug and fails.
INPUT_ERRORS = (OSError, ValueError, KeyError)


@dataclass(frozen=True)
class Rule:
    spec: CheckSpec
    tables: tuple[str, ...]  # the day's tables it reads (owner_policy is added: see `reads`)
    evaluate: Callable[[RuleInputs], rules.CheckOutcome]
    history: tuple[str, ...] = ()  # tables read from earlier evidence days (ordering-only deps)
    configured_by: tuple[str, ...] = ()  # CompliancePolicy fields the owner must set, or the rule skips
    # Why the check cannot be recomputed from the evidence alone, if it cannot (AC-15).
    not_reperformable: str | None = None
    # The only columns it reads of a big table (the calls), so that one is never loaded whole.
    columns: dict[str, tuple[str, ...]] | None = None

    @property
    def asset_name(self) -> str:
        return self.spec.table

    @property
    def reads(self) -> tuple[str, ...]:
        """The day's tables the rule is given: its own and the sealed policy every rule is judged under."""
        return tuple(dict.fromkeys((*self.tables, OWNER_POLICY)))


def _previous_users(i: RuleInputs) -> tuple[pd.DataFrame | None, str | None]:
    earlier = [d for d in i.history.dates("users") if d < i.date]
    if not earlier:
        return None, None
    return i.history.read_table("users", earlier[-1]), earlier[-1]


def _call_activity(i: RuleInputs) -> tuple[pd.DataFrame, datetime | None, datetime]:
    """Per-user activity over the stored call days within the dormancy window, streamed one day at a
    time (two columns each), and the contiguous window those days actually cover."""
    first = (date.fromisoformat(i.date) - timedelta(days=i.policy.dormant_days - 1)).isoformat()
    days = [d for d in i.history.dates("calls") if first <= d <= i.date]
    frames = (i.history.read_table("calls", d, columns=["user_id", "started_at"]) for d in days)
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
    review = i.history.latest_review(i.date)
    return rules.access_review(i.tables["users"], review, as_of=i.day_end, max_age_days=i.policy.access_review_max_age_days,
                         signature=review.get("signature") if review else None)


def _evidence_freshness(i: RuleInputs) -> rules.CheckOutcome:
    """AC-15, as the freshness sensor sees it at this moment: the newest evidence report of the
    instance (an earlier day's, or an earlier attempt of this one) against the policy's age."""
    newest = i.newest_report() if i.newest_report is not None else None
    return rules.evidence_freshness_check(newest, i.now.timestamp(), timedelta(hours=i.policy.freshness_max_age_hours))


def _access_changes(i: RuleInputs) -> rules.CheckOutcome:
    previous, previous_date = _previous_users(i)
    return rules.access_changes(i.tables["users"], previous, previous_date=previous_date)


RULES: tuple[Rule, ...] = (
    Rule(catalogue.AC_01, ("users", "company"), lambda i: rules.user_inventory(i.tables["users"], i.tables["company"])),
    Rule(catalogue.AC_02, ("users", OWNER_ROLES), lambda i: rules.privileged_access(
        i.tables["users"], i.roles(), min_admins=i.policy.min_admins,
        max_admins=i.policy.max_admins, privileged_roles=i.policy.privileged_roles),
        configured_by=("roles_uri",)),
    Rule(catalogue.AC_03, ("users", OWNER_ROSTER), lambda i: rules.offboarding(
        i.tables["users"], i.roster(), as_of=i.now, sla_hours=i.policy.offboarding_sla_hours,
        active_statuses=i.policy.active_statuses, terminated_statuses=i.policy.terminated_statuses,
        suspended_statuses=i.policy.suspended_statuses),
        configured_by=("roster_uri",)),
    Rule(catalogue.AC_04, ("users", OWNER_ROSTER), lambda i: rules.unmatched_accounts(
        i.tables["users"], i.roster(), exceptions=i.policy.exceptions),
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
        numbers=i.tables["numbers"], teams=i.tables["teams"], tz=i.tz),
        columns={"calls": rules.RECORDING_POSTURE_CALL_COLUMNS}),
    Rule(catalogue.AC_11, ("webhooks",), lambda i: rules.webhook_egress(
        i.tables["webhooks"], approved_domains=i.policy.approved_webhook_domains,
        max_webhooks=i.policy.max_webhooks), configured_by=("approved_webhook_domains",)),
    # call_windows hold the API's own query bounds, `from` exclusive and `to` inclusive, so the day
    # [start, end) is the API window (start - 1 s, end - 1 s].
    Rule(catalogue.AC_14, ("call_windows",), lambda i: rules.calls_completeness(
        i.tables["call_windows"], period_from=i.day_start - ONE_SECOND, period_to=i.day_end - ONE_SECOND)),
    # It reads no table of the day but the policy (the report it measures is downstream of every
    # check); the ordering-only dependency on `company` keeps it, like every check, from writing
    # evidence for a day whose collection failed (a rejected key writes nothing at all).
    Rule(catalogue.AC_15, (), _evidence_freshness, history=("company",),
         not_reperformable="it measures the age of the newest evidence report in the Dagster instance's event "
                           "log at the moment it ran, which the evidence does not hold"),
    Rule(catalogue.AC_16, ("users",), _access_review),
)


def evaluate(rule: Rule, inputs: RuleInputs) -> tuple[rules.CheckOutcome, Exception | None]:
    """The rule's outcome, or its `error` outcome (and the cause) when an input it needs is broken."""
    try:
        return rule.evaluate(inputs), None
    except INPUT_ERRORS as exc:
        return rules.error_outcome(rule.spec, exc), exc


def outcome_record(outcome: rules.CheckOutcome) -> dict:
    """The check as it appears in checks.json and in the asset's materialization metadata."""
    findings = outcome.findings
    flagged = findings[findings["status"] != catalogue.PASS] if "status" in findings else findings
    return json_dumps_round_trip({
        "id": outcome.check_id, "name": outcome.name, "status": outcome.status, "observed": outcome.observed,
        "threshold": outcome.threshold, "controls": list(outcome.controls), "reason": outcome.reason,
        "items_total": len(flagged), "items": flagged.head(1000).to_dict(orient="records"),
    })
