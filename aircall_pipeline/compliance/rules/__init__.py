"""The compliance rules: one pure pandas function per check, each returning a `CheckOutcome`.

No Dagster here: the asset layer (compliance/assets.py) reads the evidence tables, calls these
functions, writes `findings` as the check's evidence table and turns the outcome into an asset check
result. Input tables follow the normalised schemas in docs/architecture.md; every function copes with
empty frames, nulls, empty names and odd emails (case, whitespace), and none loops over calls in Python.
A check that lacks its input returns `skip` with the reason, never `pass`.

Each check lives in a module named for what it checks:

- shared: `findings` (CheckOutcome, the findings table, skip/error outcomes), `columns` (reading
  input tables: ids, emails, UTC timestamps, the users view);
- identity: `user_inventory` (AC-01), `privileged_access` (AC-02), `roster` (the HR roster, for
  AC-03/04), `offboarding` (AC-03), `unmatched_accounts` (AC-04), `shared_accounts` (AC-05),
  `dormant_accounts` (AC-06, with the call activity it is judged on), `access_changes` (AC-07);
- telephony: `team_coverage` (AC-08), `number_inventory` (AC-09), `recording_posture` (AC-10);
- completeness: `calls_completeness` (AC-14), `evidence_freshness` (AC-15).

Everything is re-exported here, so callers write `rules.user_inventory(...)`. The underscored helpers
are private to the compliance package (compliance/review.py builds its outcome with `_findings` and
`_outcome`); they are re-exported under their old names for those callers.
"""

from aircall_pipeline.compliance.rules.access_changes import access_changes
from aircall_pipeline.compliance.rules.calls_completeness import calls_completeness
from aircall_pipeline.compliance.rules.columns import (
    _DAY,
    _HOUR,
    UTC_DTYPE,
    RuleInputError,
    _cast,
    _col,
    _company_field,
    _exceptions_frame,
    _id_str,
    _ids,
    _iso,
    _label,
    _normalize_name,
    _require,
    _users_view,
    _utc_series,
    normalize_email,
    to_utc,
)
from aircall_pipeline.compliance.rules.dormant_accounts import activity_from_calls, dormant_accounts
from aircall_pipeline.compliance.rules.evidence_freshness import evidence_freshness, evidence_freshness_check
from aircall_pipeline.compliance.rules.findings import (
    _STATUS_RANK,
    BASE_COLUMNS,
    CheckOutcome,
    _concat,
    _empty_rows,
    _findings,
    _outcome,
    _plural,
    _rows,
    _skip,
    _worst,
    error_outcome,
)
from aircall_pipeline.compliance.rules.number_inventory import number_inventory
from aircall_pipeline.compliance.rules.offboarding import offboarding
from aircall_pipeline.compliance.rules.privileged_access import privileged_access
from aircall_pipeline.compliance.rules.recording_posture import (
    RECORDING_POLICIES,
    RECORDING_POSTURE_CALL_COLUMNS,
    recording_posture,
)
from aircall_pipeline.compliance.rules.roster import (
    STATUS_ACTIVE,
    STATUS_SUSPENDED,
    STATUS_TERMINATED,
    STATUS_UNKNOWN,
    roster_status_kinds,
)
from aircall_pipeline.compliance.rules.shared_accounts import shared_accounts
from aircall_pipeline.compliance.rules.team_coverage import team_coverage
from aircall_pipeline.compliance.rules.unmatched_accounts import unmatched_accounts
from aircall_pipeline.compliance.rules.user_inventory import user_inventory

__all__ = [
    "BASE_COLUMNS",
    "_STATUS_RANK",
    "CheckOutcome",
    "_outcome",
    "_findings",
    "_empty_rows",
    "_rows",
    "_concat",
    "_worst",
    "_plural",
    "_skip",
    "error_outcome",
    "UTC_DTYPE",
    "_HOUR",
    "_DAY",
    "RuleInputError",
    "_cast",
    "_require",
    "_col",
    "normalize_email",
    "_normalize_name",
    "_ids",
    "_id_str",
    "to_utc",
    "_utc_series",
    "_iso",
    "_company_field",
    "_exceptions_frame",
    "_users_view",
    "_label",
    "user_inventory",
    "privileged_access",
    "STATUS_TERMINATED",
    "STATUS_ACTIVE",
    "STATUS_SUSPENDED",
    "STATUS_UNKNOWN",
    "roster_status_kinds",
    "offboarding",
    "unmatched_accounts",
    "shared_accounts",
    "activity_from_calls",
    "dormant_accounts",
    "access_changes",
    "team_coverage",
    "number_inventory",
    "RECORDING_POLICIES",
    "RECORDING_POSTURE_CALL_COLUMNS",
    "recording_posture",
    "calls_completeness",
    "evidence_freshness",
    "evidence_freshness_check",
]
