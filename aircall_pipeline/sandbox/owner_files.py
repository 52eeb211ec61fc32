"""The two files an account owner provides next to the API (the API has no role field and knows
nothing of HR): a roles export and an HR/IdP roster, written here for a sandbox account so the demo,
`make dev` and the tests exercise AC-02/03/04 exactly as a real deployment would."""

from __future__ import annotations

import csv
from pathlib import Path

from aircall_pipeline.sandbox.data import SandboxAccount


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["email"])
        writer.writeheader()
        writer.writerows(rows)


def write_owner_files(account: SandboxAccount, folder: Path) -> dict[str, str]:
    """Write roles.csv and roster.csv; return the environment variables that point at them."""
    folder.mkdir(parents=True, exist_ok=True)
    roles, roster = folder / "roles.csv", folder / "roster.csv"
    _write_csv(roles, account.roles_rows())
    _write_csv(roster, account.roster_rows())
    return {"AIRCALL_ROLES_URI": str(roles), "AIRCALL_ROSTER_URI": str(roster)}
