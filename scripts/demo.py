"""`make demo`: the whole daily job against the built-in sandbox, into ./evidence, then verified,
then the day's access review (AC-16) exported for a reviewer, then a one-day audit package
(`aircall-pipeline package`) written and checked offline (`verify-package`).

Runs the real command-line entry points in subprocesses, as an operator would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aircall_pipeline.evidence.signing import keygen
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.owner_files import write_owner_files
from aircall_pipeline.sandbox.server import SANDBOX_API_ID, SANDBOX_API_TOKEN, SandboxServer

ROOT = Path(__file__).resolve().parent.parent
REVIEWER = "you@example.com"


def fresh_review_file(folder: Path, day: str) -> Path:
    """A review file name no earlier demo used: `review export` never writes over a file (a
    reviewer's decisions may be in it), so each run gets its own."""
    folder.mkdir(parents=True, exist_ok=True)
    path, n = folder / f"review-{day}.csv", 1
    while path.exists():
        n += 1
        path = folder / f"review-{day}-{n}.csv"
    return path


def newest(folder: Path, stem: str, ext: str) -> Path:
    """The newest attempt of a report file (`report.pdf`, `report.attempt-2.pdf`, ...)."""
    found = sorted(folder.glob(f"{stem}*.{ext}"), key=lambda p: (len(p.name), p.name))
    return found[-1] if found else folder / f"{stem}.{ext}"


def fresh_package_file(folder: Path, day: str) -> Path:
    """A package name no earlier demo used: `package` never writes over a file."""
    folder.mkdir(parents=True, exist_ok=True)
    path, n = folder / f"audit-{day}.zip", 1
    while path.exists():
        n += 1
        path = folder / f"audit-{day}-{n}.zip"
    return path


def main() -> int:
    home = Path(os.environ.get("DAGSTER_HOME") or ROOT / ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    # The demo signs every manifest with its own Ed25519 key, made once under DAGSTER_HOME, and
    # verifies with the public half, as an auditor would.
    key = home / "keys" / "evidence.key"
    if not key.exists():
        print(f"Signing key: {keygen(key)} ({key}, public key {key}.pub)\n", flush=True)
    account = SandboxAccount(seed=7)
    with SandboxServer(account) as server:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "AIRCALL_API_URL": server.url,
            "AIRCALL_API_ID": SANDBOX_API_ID,
            "AIRCALL_API_TOKEN": SANDBOX_API_TOKEN,
            "EVIDENCE_URI": os.environ.get("EVIDENCE_URI", str(ROOT / "evidence")),
            "EVIDENCE_SIGNING_KEY": f"file:{key}",
            **write_owner_files(account, home / "demo-inputs"),
        }
        cli = [sys.executable, "-m", "aircall_pipeline.cli"]
        evidence = env["EVIDENCE_URI"]
        review = fresh_review_file(home / "demo-reviews", day)
        package = fresh_package_file(home / "demo-packages", day)
        print(f"Sandbox Aircall API at {server.url} (company {account.company()['name']!r}).\n", flush=True)
        for argv in (["check-connection"], ["run", "--date", day],
                     ["verify", evidence, "--date", day, "--public-key", f"{key}.pub"],
                     ["review", "export", evidence, "--date", day, "--out", str(review)],
                     ["package", evidence, "--from", day, "--to", day, "--out", str(package),
                      "--public-key", f"{key}.pub"],
                     ["verify-package", str(package), "--public-key", f"{key}.pub"]):
            print(f"$ aircall-pipeline {' '.join(argv)}", flush=True)
            code = subprocess.call(cli + argv, env=env, cwd=ROOT)
            print(flush=True)
            if code != 0:
                print(f"demo: `aircall-pipeline {argv[0]}` exited with status {code}.")
                return code
    reports = Path(evidence) / "aircall" / "reports" / f"date={day}"
    print(f"Done. Open {reports / 'report.html'}")
    print("What compliance platforms take in (the day's newest attempt, listed in its signed manifest):")
    print(f"  OSCAL Assessment Results: {newest(reports, 'assessment-results', 'json')}")
    print(f"  PDF report:               {newest(reports, 'report', 'pdf')}")
    print(f"  flat records:             {newest(reports, 'records', 'jsonl')}")
    print(f"  audit package (one day):  {package}")
    print(f"\nAccess review (AC-16) to complete: {review}")
    print("Next: write keep or remove in its decision column for every user, then sign it off:")
    print(f"  EVIDENCE_SIGNING_KEY=file:{key} aircall-pipeline review import {evidence} --date {day} "
          f"{review} --reviewer {REVIEWER}")
    print("`make dev` then shows the newest review as the aircall/access_reviews asset (Observe on its page).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
