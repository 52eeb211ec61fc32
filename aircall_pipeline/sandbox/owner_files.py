"""The files an account owner provides next to the API (the API has no role field and knows nothing
of HR or of which webhook destinations were approved): a roles export, an HR/IdP roster and a
compliance policy holding the approved webhook domains, written here for a sandbox account so the
demo, `make dev` and the tests exercise AC-02/03/04 and AC-11 exactly as a real deployment would."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from aircall_pipeline.sandbox.data import SandboxAccount


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["email"])
        writer.writeheader()
        writer.writerows(rows)


def write_owner_files(account: SandboxAccount, folder: Path) -> dict[str, str]:
    """Write roles.csv, roster.csv and policy.json; return the environment variables that point at them."""
    folder.mkdir(parents=True, exist_ok=True)
    roles, roster, policy = folder / "roles.csv", folder / "roster.csv", folder / "policy.json"
    _write_csv(roles, account.roles_rows())
    _write_csv(roster, account.roster_rows())
    # Every other threshold keeps its default; only the webhook allow-list is the owner's to give.
    policy.write_text(json.dumps({"approved_webhook_domains": account.approved_webhook_domains()}, indent=2) + "\n",
                      encoding="utf-8")
    return {"AIRCALL_ROLES_URI": str(roles), "AIRCALL_ROSTER_URI": str(roster), "AIRCALL_POLICY_FILE": str(policy)}
