"""The tables of a day's evidence and the checks judged over them: what a manifest must list.

Plain data, below both sides: the evidence library (`verify`, the audit package) checks a day against
it, and names.py gives the same names to the Dagster assets that write those tables.
"""

from __future__ import annotations

from aircall_pipeline.compliance.catalogue import CHECKS

# The tables the raw assets write, in the order the report lists them.
RAW_TABLES = ("company", "users", "teams", "team_members", "numbers", "number_users", "calls", "call_windows",
              "webhooks")
# The owner's inputs, sealed into every day as tables (compliance/owner_inputs.py): the effective
# policy with the provenance of each owner file, the roles export and the HR/IdP roster. Written
# every day, configured or not, so the set of a day's tables is fixed.
OWNER_POLICY, OWNER_ROLES, OWNER_ROSTER = "owner_policy", "owner_roles", "owner_roster"
OWNER_TABLES = (OWNER_POLICY, OWNER_ROLES, OWNER_ROSTER)
# The raw assets whose materializations record their API request counts (one per API sweep).
API_TABLES = ("company", "users", "teams", "numbers", "calls", "webhooks")
# What a backfill of past days may collect: snapshots can only be taken of the day they describe.
HISTORY_TABLES = ("calls", "call_windows")
# One findings table per check of the catalogue (`CheckSpec.table`).
FINDINGS_TABLES = tuple(spec.table for spec in CHECKS)
# Every table of a day's evidence, which its manifest must list (`verify` checks that it does).
EVIDENCE_TABLES = RAW_TABLES + OWNER_TABLES + FINDINGS_TABLES
CHECK_IDS = tuple(spec.check_id for spec in CHECKS)
