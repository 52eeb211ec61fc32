"""The compliance rules: one pure pandas function per check, each returning a `CheckOutcome`.

No Dagster here, nor the app's configuration: the asset layer (compliance/assets.py) reads the
evidence tables, calls these functions, writes `findings` as the check's evidence table and turns the
outcome into an asset check result. Input tables follow the normalised schemas in
docs/architecture.md; every function copes with empty frames, nulls, empty names and odd emails (case,
whitespace), and none loops over calls in Python. A check that lacks its input returns `skip` with
the reason, never `pass`.

Each check lives in a module named for what it checks:

- shared: `findings` (CheckOutcome, the findings table, skip/error outcomes), `columns` (reading
  input tables: ids, emails, UTC timestamps, the users view);
- identity: `user_inventory` (AC-01), `privileged_access` (AC-02), `roster` (the HR roster, for
  AC-03/04), `offboarding` (AC-03), `unmatched_accounts` (AC-04), `shared_accounts` (AC-05),
  `dormant_accounts` (AC-06, with the call activity it is judged on), `access_changes` (AC-07),
  `access_review` (AC-16);
- telephony: `team_coverage` (AC-08), `number_inventory` (AC-09), `recording_posture` (AC-10),
  `egress` (AC-11, the webhooks);
- completeness: `calls_completeness` (AC-14), `freshness` (AC-15).

Here: the rule functions, and the shapes they take and return (callers write
`rules.user_inventory(...)`). The helpers the rules share (`_findings`, `_outcome`, `_require`…) are
private to the rule modules, which import them from `findings` and `columns`.
"""

from aircall_pipeline.compliance.rules.access_changes import access_changes
from aircall_pipeline.compliance.rules.access_review import access_review
from aircall_pipeline.compliance.rules.calls_completeness import calls_completeness
from aircall_pipeline.compliance.rules.columns import UTC_DTYPE, RuleInputError
from aircall_pipeline.compliance.rules.dormant_accounts import activity_from_calls, dormant_accounts
from aircall_pipeline.compliance.rules.egress import webhook_egress
from aircall_pipeline.compliance.rules.findings import BASE_COLUMNS, CheckOutcome, error_outcome
from aircall_pipeline.compliance.rules.freshness import evidence_freshness, evidence_freshness_check, is_stale
from aircall_pipeline.compliance.rules.number_inventory import number_inventory
from aircall_pipeline.compliance.rules.offboarding import offboarding
from aircall_pipeline.compliance.rules.privileged_access import privileged_access
from aircall_pipeline.compliance.rules.recording_posture import (
    RECORDING_POLICIES,
    RECORDING_POSTURE_CALL_COLUMNS,
    recording_posture,
)
from aircall_pipeline.compliance.rules.shared_accounts import shared_accounts
from aircall_pipeline.compliance.rules.team_coverage import team_coverage
from aircall_pipeline.compliance.rules.unmatched_accounts import unmatched_accounts
from aircall_pipeline.compliance.rules.user_inventory import user_inventory

__all__ = [
    # what every rule returns or raises, and the column type of its timestamps
    "BASE_COLUMNS",
    "CheckOutcome",
    "RuleInputError",
    "UTC_DTYPE",
    "error_outcome",
    # identity
    "user_inventory",
    "privileged_access",
    "offboarding",
    "unmatched_accounts",
    "shared_accounts",
    "activity_from_calls",
    "dormant_accounts",
    "access_changes",
    "access_review",
    # telephony
    "team_coverage",
    "number_inventory",
    "RECORDING_POLICIES",
    "RECORDING_POSTURE_CALL_COLUMNS",
    "recording_posture",
    "webhook_egress",
    # completeness
    "calls_completeness",
    "evidence_freshness",
    "evidence_freshness_check",
    "is_stale",
]
