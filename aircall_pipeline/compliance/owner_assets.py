"""The owner's inputs as a Dagster asset: the policy, roles and roster sealed into every day.

One step reads the owner's files once (compliance/owner_inputs.py) and writes the day's
`owner_policy`, `owner_roles` and `owner_roster` tables through the evidence IO manager, every day,
configured or not; the checks then read those tables, so what they judged is evidence of the day,
listed in the manifest and in each check's `judged`. A broken file never fails the step: its error is
recorded and the checks that need it say `error`.
"""

# No `from __future__ import annotations` here: Dagster reads the context type hints at definition time.
from collections.abc import Iterator

import dagster as dg

from aircall_pipeline.compliance.owner_inputs import ROLES, ROSTER
from aircall_pipeline.ingest.assets import KINDS, snapshot_guard
from aircall_pipeline.names import (
    IO_MANAGER,
    OWNER_GROUP,
    OWNER_POLICY,
    OWNER_ROLES,
    OWNER_ROSTER,
    OWNERS,
    key,
    out,
)
from aircall_pipeline.registry import AccountsResource
from aircall_pipeline.resources.compliance import ComplianceResource

DESCRIPTIONS = {
    OWNER_POLICY: "The compliance policy every check of the day was judged under (`policy_json`, with the "
                  "defaults and the environment's overrides applied), and for each owner file (policy, roles, "
                  "roster): whether it is configured, where it was read, its SHA-256 and size as read (to match "
                  "with the owner's copy), the rows loaded, and the error that made it unusable.",
    OWNER_ROLES: "The roles export (email, role) AC-02 reconciled, as loaded from the owner's file; no rows when "
                 "none is configured or it was unusable (owner_policy says which).",
    OWNER_ROSTER: "The HR/IdP roster (email, name, status, terminated_at) AC-03 and AC-04 judged, as loaded "
                  "from the owner's file; no rows when none is configured or it was unusable.",
}


def build_owner_inputs_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="owner_inputs",
        outs={out(table): dg.AssetOut(key=key(table), kinds=KINDS, owners=OWNERS, group_name=OWNER_GROUP,
                                      description=description, io_manager_key=IO_MANAGER)
              for table, description in DESCRIPTIONS.items()},
        # Ordering only: a day whose collection failed (a rejected key) gets no owner tables either.
        deps=[key("company")],
        partitions_def=partitions_def,
    )
    def owner_inputs(context: dg.AssetExecutionContext, accounts: AccountsResource,
                     compliance: ComplianceResource) -> Iterator[dg.Output]:
        account = accounts.for_context(context)
        # The files as they are now: like any snapshot, they are evidence only for the day being collected.
        snapshot_guard(context, account, "owner inputs")
        tables = compliance.for_account(account).owner_tables()
        summary = tables.summary()
        for input_, row in summary.items():
            if row["error"]:
                context.log.error(f"The owner's {input_} input is unusable; its checks will say error: {row['error']}")
        yield dg.Output(tables.index, output_name=out(OWNER_POLICY),
                        metadata={"inputs": dg.MetadataValue.json(summary)})
        yield dg.Output(tables.roles, output_name=out(OWNER_ROLES),
                        metadata={"owner_file_sha256": dg.MetadataValue.text(str(summary[ROLES]["sha256"]))})
        yield dg.Output(tables.roster, output_name=out(OWNER_ROSTER),
                        metadata={"owner_file_sha256": dg.MetadataValue.text(str(summary[ROSTER]["sha256"]))})

    return owner_inputs
