"""One sealed day for the platform-file tests (OSCAL, records.jsonl): a passing, a failing and a
warning check, each naming the files it judged, on top of the catalogue's placeholders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline_tests.evidence.conftest import users_frame
from aircall_pipeline_tests.evidence.days import seal_day

DAY = "2026-03-13"
SEALED_AT = datetime(2026, 3, 14, 2, 15, tzinfo=UTC)
FRESH_FOR = timedelta(hours=12)  # not the 30 h default, so the expiry shows where it comes from
FIELDS = {"run_id": "run-1", "api_url": "https://api.aircall.io", "company": "Northwind", "requests": {},
          "collected_at": "2026-03-14T02:10:00Z"}
REPORTS = f"aircall/reports/date={DAY}"


def judged_checks(store: EvidenceStore) -> list[dict]:
    """AC-01 passes on the users file, AC-05 fails (with a structured observed value), AC-08 warns."""
    users = store.write_table("users", DAY, users_frame())[0]
    judged = {"users": {"path": users.path, "sha256": users.sha256}}
    return [
        {"id": "AC-01", "name": "user_inventory", "status": "pass", "observed": 2, "threshold": "== 2",
         "controls": ["SOC2:CC6.1", "SOC2:CC6.2", "PCI:7.2.4"], "reason": "2 users,\nas the company says",
         "items": [], "items_total": 0, "judged": judged},
        {"id": "AC-05", "name": "shared_accounts", "status": "fail", "observed": {"shared": 1},
         "threshold": "no generic mailboxes", "controls": ["PCI:8.2.2", "SOC2:CC6.1"],
         "reason": "support@ is shared", "items": [{"item_id": "support@example.com", "status": "fail"}],
         "items_total": 1, "judged": judged},
        {"id": "AC-08", "name": "team_coverage", "status": "warn", "observed": 1, "threshold": "0 teamless",
         "controls": ["SOC2:CC6.3"], "reason": "one teamless user", "items": [], "items_total": 1,
         "judged": judged},
    ]


def seal(store: EvidenceStore):
    store.clock = lambda: SEALED_AT
    return seal_day(store, DAY, tables={"users": users_frame()}, checks=judged_checks(store), fields=FIELDS,
                    fresh_for=FRESH_FOR)


def assessment_document(store: EvidenceStore, manifest) -> dict:
    [path] = [a.path for a in manifest.artifacts if a.path.endswith("/assessment-results.json")]
    return json.loads(store.backend.get(path))
