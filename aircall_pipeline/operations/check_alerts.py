"""One alert per run for its non-blocking compliance check results (the sensor is in check_sensor.py).

A run whose non-blocking checks fail, warn or skip still succeeds, so the run-failure alert never
sees it. One alert per check and per day is how alerts get muted, so a run gets one alert: titled
with the check ids ("AC-05 fail, AC-08 warn; 4 skipped"), with the top items of each check and links
to the run and to the day's report.

A skip because the owner has not configured an input (no roles file, no roster; the compliance
asset says so in the check's metadata) tells nothing new from one day to the next: it is included
at most once every REMINDER_INTERVAL per account and check. When each was last included is state
the sensor keeps in its cursor (`reminded`: key -> UNIX time); a check that stops skipping for that
reason is forgotten, so it is reminded at once if it ever does again.

Pure functions over Dagster's `AssetCheckEvaluation`s: nothing here reads an instance or sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import dagster as dg

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.operations.alerts import Alert
from aircall_pipeline.operations.failures import check_id_of, format_items, metadata_values, short

REMINDER_INTERVAL = timedelta(days=7)
MAX_ITEMS_PER_CHECK = 5
REPORT_LINK_LABEL = "Report"
# The order findings are listed in, most pressing first.
_STATUS_ORDER = {catalogue.FAIL: 0, catalogue.ERROR: 1, catalogue.WARN: 2, catalogue.SKIP: 3}


@dataclass(frozen=True)
class CheckFinding:
    """One check of a run that did not pass, flattened from its evaluation."""

    check_id: str  # "AC-05" (the check name when the catalogue does not know it)
    check_name: str
    status: str  # fail | error | warn | skip
    error_severity: bool  # the asset check was raised at ERROR severity
    reason: str
    observed: Any
    threshold: Any
    items: tuple[str, ...]  # the first MAX_ITEMS_PER_CHECK, as "label" or "label: reason"
    items_total: int
    unconfigured: tuple[str, ...] = ()  # the inputs a configuration skip lacks

    @property
    def configuration_skip(self) -> bool:
        return self.status == catalogue.SKIP and bool(self.unconfigured)


def finding_from_evaluation(evaluation: Any) -> CheckFinding | None:
    """The finding of an `AssetCheckEvaluation`, or None when it passed."""
    if evaluation is None or evaluation.passed:
        return None
    values = metadata_values(evaluation.metadata)
    check_id = check_id_of(evaluation)
    status = str(values.get("status") or catalogue.FAIL).lower()
    reason = evaluation.description or ""
    if reason.upper().startswith(f"{status.upper()}: "):  # compliance assets prefix the status
        reason = reason[len(status) + 2:]
    items, total = format_items(evaluation.metadata, limit=MAX_ITEMS_PER_CHECK)
    unconfigured: tuple[str, ...] = ()
    if values.get(catalogue.SKIP_CAUSE) == catalogue.MISSING_CONFIGURATION:
        unconfigured = tuple(str(v) for v in values.get(catalogue.MISSING_CONFIGURATION) or ("input",))
    return CheckFinding(
        check_id=check_id, check_name=evaluation.check_name, status=status,
        error_severity=evaluation.severity == dg.AssetCheckSeverity.ERROR, reason=reason,
        observed=values.get("observed"), threshold=values.get("threshold"), items=tuple(items),
        items_total=total, unconfigured=unconfigured,
    )


def reminder_key(account: str | None, check_id: str) -> str:
    return f"{account or '-'}|{check_id}"


def due_findings(
    findings: Iterable[CheckFinding], reminded: Mapping[str, float], *, evaluated: Iterable[str],
    account: str | None, now: float,
) -> tuple[list[CheckFinding], dict[str, float]]:
    """The findings the run's alert shows, and the reminder state once it is sent: a configuration
    skip is shown when it was never reminded or last reminded REMINDER_INTERVAL ago or more.
    `evaluated`: the ids of every check the run evaluated, passed or not."""
    state = dict(reminded)
    shown = []
    findings = list(findings)
    skipping = {f.check_id for f in findings if f.configuration_skip}
    for finding in findings:
        if finding.configuration_skip:
            key = reminder_key(account, finding.check_id)
            last = state.get(key)
            if last is not None and now - last < REMINDER_INTERVAL.total_seconds():
                continue
            state[key] = now
        shown.append(finding)
    for check_id in set(evaluated) - skipping:
        state.pop(reminder_key(account, check_id), None)  # configured now: a future skip is news again
    return sorted(shown, key=lambda f: (_STATUS_ORDER.get(f.status, 9), f.check_id)), state


def title_of(findings: Iterable[CheckFinding]) -> str:
    """`AC-05 fail, AC-08 warn; 4 skipped`."""
    findings = list(findings)
    named = [f"{f.check_id} {f.status}" for f in findings if f.status != catalogue.SKIP]
    skipped = sum(1 for f in findings if f.status == catalogue.SKIP)
    parts = [", ".join(named)] if named else []
    if skipped:
        parts.append(f"{skipped} skipped")
    return "; ".join(parts)


def severity_of(findings: Iterable[CheckFinding]) -> str:
    findings = list(findings)
    if any(f.error_severity and f.status in (catalogue.FAIL, catalogue.ERROR) for f in findings):
        return "error"
    if any(f.status != catalogue.SKIP for f in findings):
        return "warning"
    return "info"


def finding_text(finding: CheckFinding) -> str:
    """A check in a few lines: status and reason, observed vs threshold, its top items."""
    lines = [f"*{finding.check_id} {finding.status}* ({finding.check_name}): {short(finding.reason)}"]
    if finding.configuration_skip:
        # The policy fields the owner sets (roles_uri, roster_uri), each also AIRCALL_<FIELD> in the environment.
        fields = ", ".join(f"{name} (AIRCALL_{name.upper()} or the policy file)" for name in finding.unconfigured)
        lines[0] += f" Configure {fields} to run it; reminded once a week."
    elif finding.observed is not None or finding.threshold is not None:
        lines.append(f"    Observed: {finding.observed if finding.observed is not None else '?'}; "
                     f"threshold: {finding.threshold if finding.threshold is not None else '?'}.")
    if finding.items:
        more = f" (top {len(finding.items)} of {finding.items_total})" if finding.items_total > len(finding.items) else ""
        lines.append(f"    Items{more}: " + "; ".join(short(item, 120) for item in finding.items))
    return "\n".join(lines)


def check_alert(
    findings: list[CheckFinding],
    *,
    partition: str | None,
    run_id: str,
    run_url: str,
    report_url: str | None,
    evidence: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Alert | None:
    """The run's one check alert, or None when there is nothing to say."""
    if not findings:
        return None
    on_date = f" for {partition}" if partition else ""
    text = [f"Compliance checks of the Aircall evidence{on_date} that did not pass. They are not "
            "blocking: the day's evidence was written, with these findings in it."]
    text += [finding_text(f) for f in findings]
    if evidence:
        text.append(f"Evidence manifest: {evidence}")
    return Alert(
        title=f"{title_of(findings)} — Aircall checks{on_date}",
        severity=severity_of(findings),  # type: ignore[arg-type]
        kind="check_failed",
        text="\n".join(text),
        run_id=run_id,
        run_url=run_url,
        links=((REPORT_LINK_LABEL, report_url),) if report_url else (),
        details={
            **(details or {}),
            "checks": [{"id": f.check_id, "name": f.check_name, "status": f.status, "items": list(f.items),
                        "items_total": f.items_total} for f in findings],
            **({"evidence": evidence} if evidence else {}),
        },
    )
