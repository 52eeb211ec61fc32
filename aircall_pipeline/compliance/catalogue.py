"""The compliance check catalogue: ids, names, titles, control mappings, severities.

Ids and names are public (they name assets, asset checks, evidence tables and rows of checks.json), so
they are module-level constants, defined once here and imported everywhere else.

The checks are the account tests compliance platforms run on SaaS user accounts (accounts mapped to
people, leavers removed within an SLA, unknown, shared, dormant and new accounts, admins against an
approved list: e.g. https://help.drata.com, https://help.vanta.com, https://support.secureframe.com),
applied to what the Aircall API exposes. Control ids are the frameworks' own: SOC 2 Trust Services
Criteria (https://www.aicpa-cima.com/resources/download/2017-trust-services-criteria-with-revised-points-of-focus-2022),
ISO/IEC 27001:2022 Annex A (https://www.iso.org/standard/27001), PCI DSS v4.0.1
(https://www.pcisecuritystandards.org/document_library/), the HIPAA Security Rule (45 CFR 164.308 and
164.312, https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-C) and GDPR
(https://eur-lex.europa.eu/eli/reg/2016/679/oj). AC-14 judges the completeness of system-generated
evidence as AICPA AT-C 205.36 asks of information produced by the entity.

Status and severity are two different things. `status` (pass | fail | warn | skip | error) is what a
rule found. `severity` is how loudly a `fail` of that check should be raised (the Dagster asset check
severity); a `warn` status is always raised at WARN, and pass/skip never alert. `blocking` checks
(AC-01 and AC-14) guard completeness: when they fail, the day's data is incomplete and must never be
presented as evidence, so downstream evidence assets wait.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aircall_pipeline.aircall.windows import MAX_RESULTS

# Result vocabulary, borrowed from Steampipe's control statuses (ok/alarm/info/skip/error, e.g.
# https://github.com/turbot/steampipe-mod-zoom-compliance) and Prowler's reports
# (https://github.com/prowler-cloud/prowler, docs/tutorials/reporting.md).
PASS = "pass"  # noqa: S105 - a check status, not a password
FAIL = "fail"
WARN = "warn"
SKIP = "skip"
ERROR = "error"
STATUSES = (PASS, FAIL, WARN, SKIP, ERROR)

# Why a check skipped, when the reason is that the owner has not configured an input (no roles file,
# no roster): the check's metadata says so under SKIP_CAUSE, and the check alert then reminds of it
# weekly instead of daily. Other skips (not enough history yet) carry no cause.
SKIP_CAUSE = "skip_cause"
MISSING_CONFIGURATION = "missing_configuration"
# The metadata key under which every compliance check records its id (`AC-01`): the alerts read
# which check failed from it, not from any message.
CHECK_ID_KEY = "check_id"

# Dagster asset-check severities (the names of dagster.AssetCheckSeverity members), kept as plain
# strings so that this module stays free of Dagster imports.
SEVERITY_ERROR = "ERROR"
SEVERITY_WARN = "WARN"

# Local parts of role mailboxes (PCI DSS 8.2.2: shared/generic accounts only by documented exception).
# An email matches when its local part, without a "+tag", is one of these or one of these followed by
# a separator or digit ("support@", "support-fr@", "sales.uk@", "info2@"). That also flags a personal
# address such as "admin.jane@": a false positive costs a documented exception, a miss costs a finding.
DEFAULT_SHARED_PATTERNS: tuple[str, ...] = (
    "accounts",
    "admin",
    "administrator",
    "billing",
    "callcenter",
    "contact",
    "customerservice",
    "frontdesk",
    "hello",
    "help",
    "helpdesk",
    "info",
    "no-reply",
    "noreply",
    "office",
    "reception",
    "sales",
    "shared",
    "support",
    "team",
)

# Aircall roles (Dashboard): Agent, Supervisor, Admin, plus the "Owner" advanced permission. Admin and
# Owner can manage users, numbers and integrations (including minting API keys), so they are privileged.
DEFAULT_PRIVILEGED_ROLES: tuple[str, ...] = ("admin", "owner")

# Roster statuses, as HRIS and IdP exports spell them (Workday, BambooHR, Okta, Entra ID, Google
# Workspace, Rippling...), compared after `status_key()`: lower-cased, separators folded to one space,
# so "Terminated - Voluntary" reads "terminated voluntary". A status is classified by the longest of
# these phrases it starts with, word for word ("terminated voluntary" -> terminated, "leave of
# absence loa" -> active). Anything else is reported as unknown, never silently taken as active; a
# policy can name its own (policy.py: active_statuses, terminated_statuses, suspended_statuses).
#
# Leavers: this person no longer works here.
TERMINATED_STATUSES: frozenset[str] = frozenset({
    "terminated", "termed", "inactive", "offboarded", "former", "former employee", "left", "leaver",
    "deactivated", "deprovisioned", "deleted", "resigned", "separated", "retired", "deceased", "dismissed",
    "fired", "laid off", "layoff", "let go", "quit", "ended", "contract ended", "end of contract",
    "no longer employed", "not employed", "withdrawn", "exited", "departed", "archived",
})
# Still works here: an account in Aircall is expected.
ACTIVE_STATUSES: frozenset[str] = frozenset({
    "active", "employed", "current", "hired", "rehired", "enabled", "provisioned", "staged", "pending",
    "onboarding", "pre hire", "pre start", "new hire", "recovery", "password expired", "locked out",
    "on leave", "leave", "leave of absence", "loa", "parental leave", "maternity leave", "paternity leave",
    "medical leave", "sabbatical", "furloughed", "full time", "part time", "contractor", "contract",
    "intern", "temporary", "seasonal", "probation", "notice period", "garden leave",
})
# Access paused in the IdP (a suspended Okta or Google Workspace user, a disabled Entra ID account):
# not a leaver (they may come back), but an Aircall account that still works is worth a look.
SUSPENDED_STATUSES: frozenset[str] = frozenset({"suspended", "disabled", "blocked", "locked", "on hold"})


def status_key(status: str) -> str:
    """A roster status as the vocabularies above spell it: "Terminated - Voluntary" -> "terminated voluntary"."""
    return " ".join(re.split(r"[\s\-_/,.:;()]+", str(status).strip().lower())).strip()


@dataclass(frozen=True)
class CheckSpec:
    """One check of the catalogue. `controls` are "FRAMEWORK:control-id" strings."""

    check_id: str
    name: str
    title: str
    controls: tuple[str, ...]
    severity: str
    blocking: bool = False

    @property
    def table(self) -> str:
        """The evidence table of its findings: `AC-01` + `user_inventory` -> `ac01_user_inventory`."""
        return f"{self.check_id.lower().replace('-', '')}_{self.name}"


AC_01 = CheckSpec(
    "AC-01",
    "user_inventory",
    "User access inventory reconciles with the company's user count",
    ("SOC2:CC6.1", "SOC2:CC6.2", "SOC2:CC6.3", "ISO27001:A.5.15", "ISO27001:A.5.16", "ISO27001:A.5.18",
     "PCI:7.2.4", "HIPAA:164.308(a)(4)"),
    # An incomplete user list would make every access check below it silently wrong.
    SEVERITY_ERROR,
    blocking=True,
)
AC_02 = CheckSpec(
    "AC-02",
    "privileged_access",
    "Privileged users (Admin/Owner) are declared, reconciled and within bounds",
    ("SOC2:CC6.3", "ISO27001:A.8.2", "PCI:7.2.1", "PCI:7.2.2", "PCI:7.2.4", "HIPAA:164.308(a)(4)"),
    # Too many admins or an unapproved admin is excess privilege, a least-privilege exception.
    SEVERITY_ERROR,
)
AC_03 = CheckSpec(
    "AC-03",
    "offboarding",
    "Terminated people have no Aircall account beyond the removal SLA",
    ("SOC2:CC6.2", "SOC2:CC6.3", "ISO27001:A.5.18", "ISO27001:A.6.5", "PCI:8.2.5",
     "HIPAA:164.308(a)(3)(ii)(C)"),
    # A leaver who can still place calls as the company is the exception auditors look for first.
    SEVERITY_ERROR,
)
AC_04 = CheckSpec(
    "AC-04",
    "unmatched_accounts",
    "Every Aircall account maps to a person in the roster or a documented exception",
    ("SOC2:CC6.2", "ISO27001:A.5.16", "PCI:8.2.1", "PCI:8.2.4"),
    # Usually a classification gap (alias email, service user) fixed by adding an exception.
    SEVERITY_WARN,
)
AC_05 = CheckSpec(
    "AC-05",
    "shared_accounts",
    "No shared or generic accounts without a documented exception and owner",
    ("PCI:8.2.2", "HIPAA:164.312(a)(2)(i)", "ISO27001:A.5.16", "SOC2:CC6.1"),
    # Unique user identification is a required HIPAA specification and a PCI requirement.
    SEVERITY_ERROR,
)
AC_06 = CheckSpec(
    "AC-06",
    "dormant_accounts",
    "No accounts without a call for the configured number of days",
    ("PCI:8.2.6", "ISO27001:A.5.18", "SOC2:CC6.2"),
    # Calls are a proxy for activity (the API has no last-login field): supervisors and admins may
    # legitimately never place a call, so a fail asks for review rather than stopping the line.
    SEVERITY_WARN,
)
AC_07 = CheckSpec(
    "AC-07",
    "access_changes",
    "Joiners, leavers and email changes since the previous snapshot",
    ("SOC2:CC6.2", "ISO27001:A.5.18", "PCI:8.2.4", "HIPAA:164.308(a)(4)(ii)(C)"),
    # Informational: it produces the joiner/leaver population auditors sample; it never fails.
    SEVERITY_WARN,
)
AC_08 = CheckSpec(
    "AC-08",
    "team_coverage",
    "Every user belongs to a team and no team is empty",
    ("SOC2:CC6.3", "ISO27001:A.5.15"),
    # Teams route calls; they are not a permission boundary in Aircall, so gaps are hygiene.
    SEVERITY_WARN,
)
AC_09 = CheckSpec(
    "AC-09",
    "number_inventory",
    "Phone number inventory reconciles and every number has users",
    ("ISO27001:A.5.9", "GDPR:Art.30"),
    SEVERITY_WARN,
)
AC_10 = CheckSpec(
    "AC-10",
    "recording_posture",
    "Call recording matches the configured recording policy",
    ("PCI:3.3.1", "GDPR:Art.5(1)(e)", "HIPAA:164.312(b)", "ISO27001:A.5.34"),
    # Only a "required" or "forbidden" policy can fail; breaking a declared recording policy is a
    # privacy/PCI exposure (card data or health data recorded, or mandated recordings missing).
    SEVERITY_ERROR,
)
AC_11 = CheckSpec(
    "AC-11",
    "webhook_egress",
    "Webhooks send account data only over https to approved destinations",
    ("ISO27001:A.5.14", "ISO27001:A.5.19", "ISO27001:A.5.20", "ISO27001:A.5.21", "SOC2:CC6.6", "SOC2:CC9.2",
     "GDPR:Art.28", "GDPR:Art.30"),
    # An active webhook to an unapproved or plain-http destination is call and user data leaving the
    # company to a recipient nobody vetted: an unlisted processor, an unmanaged supplier.
    SEVERITY_ERROR,
)
AC_14 = CheckSpec(
    "AC-14",
    "calls_completeness",
    f"Every call window was fetched completely (fetched == meta.total < {MAX_RESULTS:,})",
    ("AICPA:AT-C-205.36", "SOC2:CC4.1", "SOC2:CC7.2"),
    # Truncated call data would make AC-06 and AC-10 wrong without anyone noticing.
    SEVERITY_ERROR,
    blocking=True,
)
AC_15 = CheckSpec(
    "AC-15",
    "evidence_freshness",
    "The newest evidence is younger than the freshness policy",
    ("SOC2:CC4.1", "SOC2:CC7.2"),
    # Stale evidence means the monitoring itself has stopped: every other check is then out of date.
    SEVERITY_ERROR,
)

AC_16 = CheckSpec(
    "AC-16",
    "access_review",
    "A signed periodic access review is recent and its removals are carried out",
    ("PCI:7.2.4", "SOC2:CC6.2", "SOC2:CC6.3", "ISO27001:A.5.18"),
    # An overdue review, or a user signed off for removal and still present, is a control failure.
    SEVERITY_ERROR,
)

CHECKS: tuple[CheckSpec, ...] = (
    AC_01, AC_02, AC_03, AC_04, AC_05, AC_06, AC_07, AC_08, AC_09, AC_10, AC_11, AC_14, AC_15, AC_16,
)
BY_ID: dict[str, CheckSpec] = {spec.check_id: spec for spec in CHECKS}
BY_NAME: dict[str, CheckSpec] = {spec.name: spec for spec in CHECKS}
