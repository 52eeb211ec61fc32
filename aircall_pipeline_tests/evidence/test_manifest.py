"""The day's report: checks.json, report.html, manifest.json written last; verify() and the hash chain."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest

from aircall_pipeline import __version__
from aircall_pipeline.evidence.layout import LISTED_REPORT_BASES
from aircall_pipeline.evidence.manifest import iso_utc, json_bytes
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
from aircall_pipeline.jsonable import to_jsonable
from aircall_pipeline.names import CHECK_IDS, EVIDENCE_TABLES
from aircall_pipeline_tests.evidence.conftest import users_frame
from aircall_pipeline_tests.evidence.days import seal_day

D1, D2, D3 = "2026-03-13", "2026-03-14", "2026-03-15"
TABLES = list(EVIDENCE_TABLES)
CHECKS = [
    {
        "id": "AC-01",
        "name": "user_inventory",
        "status": "pass",
        "observed": 2,
        "threshold": "users fetched == company.users_count (2)",
        "controls": ["SOC2:CC6.1", "ISO27001:A.5.18"],
        "reason": "All 2 users were fetched.",
        "items": [],
    },
    {
        "id": "AC-05",
        "name": "shared_accounts",
        "status": "fail",
        "observed": 1,
        "threshold": "no generic mailboxes",
        "controls": ["SOC2:CC6.2"],
        "reason": "1 shared account.",
        "items": [{"check_id": "AC-05", "status": "fail", "item_type": "user", "item_id": 7,
                   "item_label": "support@example.com", "reason": "generic mailbox"}],
    },
]


def fields(run_id: str = "run-1", **extra) -> dict:
    return {
        "run_id": run_id,
        "api_url": "https://api.aircall.io",
        "company": "Northwind",
        "requests": {"/v2/users": {"requests": 3, "rate_limited": 1, "retries": 1}},
        "collected_at": "2026-03-15T02:15:00+00:00",
        **extra,
    }


def seal(store: EvidenceStore, day: str, run_id: str = "run-1", checks=CHECKS):
    return seal_day(store, day, tables={"users": users_frame(), "teams": users_frame(("Sales",))}, checks=checks,
                    fields=fields(run_id))


def tamper(store: EvidenceStore, path: str, data: bytes | None) -> None:
    """Change (or delete, data=None) a stored object behind the store's back, as an attacker would."""
    backend = store.backend
    if hasattr(backend, "client"):
        key = backend._key(path)
        if data is None:
            backend.client.delete_object(Bucket=backend.bucket, Key=key)
        else:
            backend.client.put_object(Bucket=backend.bucket, Key=key, Body=data)
    else:
        target = backend._path(path)
        os.chmod(target, 0o644)
        if data is None:
            target.unlink()
        else:
            target.write_bytes(data)


def test_manifest_contents(store: EvidenceStore):
    manifest = seal(store, D1)
    assert manifest.path == f"aircall/reports/date={D1}/manifest.json"
    assert manifest.uri == store.full_uri(manifest.path)
    stored = json.loads(store.backend.get(manifest.path))
    assert stored == manifest.data
    assert stored["date"] == D1 and stored["run_id"] == "run-1" and stored["company"] == "Northwind"
    assert stored["package_version"] == __version__
    assert stored["collected_at"] == "2026-03-15T02:15:00Z"
    assert stored["requests"]["/v2/users"] == {"requests": 3, "rate_limited": 1, "retries": 1}
    assert stored["previous_manifest"] is None
    assert stored["checks"][1] == {
        "id": "AC-05", "status": "fail", "observed": 1, "threshold": "no generic mailboxes",
        "controls": ["SOC2:CC6.2"],
    }
    paths = [a["path"] for a in stored["artifacts"]]
    assert paths == [f"aircall/{t}/date={D1}/{t}.{ext}" for t in TABLES for ext in ("parquet", "csv")] + [
        f"aircall/reports/date={D1}/checks.json",
        f"aircall/reports/date={D1}/report.html",
        f"aircall/reports/date={D1}/report.pdf",
        f"aircall/reports/date={D1}/assessment-results.json",
        f"aircall/reports/date={D1}/records.jsonl",
    ]
    # Every hash is of what is actually stored.
    for artifact in manifest.artifacts:
        assert store.stored_artifact(artifact.path) == artifact
    checks = json.loads(store.backend.get(f"aircall/reports/date={D1}/checks.json"))
    assert [c["id"] for c in checks][:2] == ["AC-01", "AC-05"] and len(checks) == len(CHECK_IDS)
    assert checks[1]["items"][0]["item_label"] == "support@example.com"
    by_name = {a.path.rsplit("/", 1)[1]: a for a in manifest.artifacts}
    # checks.json counts its checks and records.jsonl its lines (one per check); the PDF and OSCAL none.
    assert by_name["checks.json"].rows == by_name["records.jsonl"].rows == len(CHECK_IDS)
    assert by_name["report.pdf"].rows is None and by_name["assessment-results.json"].rows is None
    assert store.report_dates() == [D1]
    assert store.read_manifest(D1) == manifest


def test_chain_links_each_day_to_the_newest_earlier_manifest(store: EvidenceStore):
    first = seal(store, D1)
    second = seal(store, D3)  # a gap day in between is fine: the link goes to the newest earlier day
    assert second.previous_manifest == {"path": first.path, "sha256": first.sha256, "bytes": first.bytes,
                                         "date": D1, "attempt": 1}
    # A rerun of D1 gets a second manifest attempt, chained to the first; D3's link stays on the one
    # it sealed, so verify reports D1 as rewritten after D3 was sealed.
    rerun = seal(store, D1, run_id="run-2")
    assert rerun.path == f"aircall/reports/date={D1}/manifest.attempt-2.json"
    assert rerun["previous_attempt"]["path"] == first.path and rerun["previous_attempt"]["sha256"] == first.sha256
    assert rerun["reason"]["kind"] == "rerun"
    assert store.backend.get(first.path)  # the first attempt is still there
    v = store.verify(D1)
    assert not v.ok
    assert any("superseded" in p and f"after {D3} was sealed" in p for p in v.problems), v.summary()
    assert store.verify(D3).ok


def test_report_rerun_identical_is_no_op_and_changed_is_new_attempt(local_store: EvidenceStore):
    local_store.clock = lambda: datetime(2026, 3, 14, 2, 15, tzinfo=UTC)  # the same sealing instant
    first = seal(local_store, D1)
    assert seal(local_store, D1) == first
    listing = local_store.backend.list(f"aircall/reports/date={D1}")
    assert len(listing) == len(LISTED_REPORT_BASES) + 1  # and the manifest
    changed = seal(local_store, D1, checks=CHECKS[:1])
    assert changed.path.endswith("manifest.attempt-2.json")
    assert {a.path.rsplit("/", 1)[1] for a in changed.artifacts} >= {"checks.attempt-2.json",
                                                                        "report.attempt-2.html"}
    assert local_store.read_manifest(D1) == changed
    assert changed["previous_attempt"]["path"] == first.path
    # The earlier attempt's files are accounted for by the newer manifest, hashed.
    assert {f["path"] for f in changed["other_files"]} == {
        f"aircall/reports/date={D1}/{name}" for name in (*LISTED_REPORT_BASES, "manifest.json")}


def test_verify_ok(store: EvidenceStore):
    seal(store, D1)
    v = store.verify(D1)
    assert v.ok, v.summary()
    assert len(v.files) == 2 * len(TABLES) + len(LISTED_REPORT_BASES) and all(f.status == "ok" for f in v.files)
    # Without a trusted key nothing is ever called untampered.
    assert not v.authenticated
    assert "AUTHENTICITY NOT CHECKED" in v.summary() and "untampered" not in v.summary()


def test_verify_detects_an_altered_file(store: EvidenceStore):
    manifest = seal(store, D1)
    csv_path = f"aircall/users/date={D1}/users.csv"
    original = store.backend.get(csv_path)
    tamper(store, csv_path, original.replace(b"ada@", b"eve@"))  # same size, different content
    v = store.verify(D1)
    assert not v.ok
    [bad] = [f for f in v.files if not f.ok]
    assert (bad.path, bad.status) == (csv_path, "ALTERED")
    assert "sha256" in bad.detail
    assert any(csv_path in p for p in v.problems)
    assert f"ALTERED  {csv_path}" in v.summary() and "NOT VERIFIED" in v.summary()
    assert manifest.path in v.summary()


def test_verify_detects_row_and_size_changes(local_store: EvidenceStore):
    seal(local_store, D1)
    csv_path = f"aircall/users/date={D1}/users.csv"
    tamper(local_store, csv_path, local_store.backend.get(csv_path).rsplit(b"\n", 2)[0] + b"\n")
    [bad] = [f for f in local_store.verify(D1).files if not f.ok]
    assert "1 rows instead of 2" in bad.detail and "bytes instead of" in bad.detail


def test_verify_detects_a_deleted_file(store: EvidenceStore):
    seal(store, D1)
    gone = f"aircall/teams/date={D1}/teams.parquet"
    tamper(store, gone, None)
    v = store.verify(D1)
    assert not v.ok
    assert [(f.path, f.status) for f in v.files if not f.ok] == [(gone, "MISSING")]


def test_verify_detects_a_broken_previous_manifest_link(store: EvidenceStore):
    first = seal(store, D1)
    seal(store, D2)
    assert store.verify(D2).ok
    # Rewriting the older day's manifest (even consistently) breaks the next day's link ...
    data = json.loads(store.backend.get(first.path))
    data["checks"][1]["status"] = "pass"
    tamper(store, first.path, json_bytes(data))
    v2 = store.verify(D2)
    assert not v2.ok
    assert any("previous day's manifest" in p and "chain is broken" in p for p in v2.problems)


def test_verify_detects_a_deleted_previous_manifest(store: EvidenceStore):
    first = seal(store, D1)
    seal(store, D2)
    tamper(store, first.path, None)
    v = store.verify(D2)
    assert not v.ok and any("missing" in p for p in v.problems)
    assert not store.verify(D1).ok  # no manifest left for D1 at all


def test_verify_a_day_without_manifest(local_store: EvidenceStore):
    local_store.write_table("users", D1, users_frame())
    v = local_store.verify(D1)
    assert not v.ok and v.manifest_path is None
    assert "no manifest" in v.problems[0] and "gap" in v.problems[0]
    assert {f.status for f in v.files} == {"UNLISTED"}


def test_missing_table_writes_no_report(store: EvidenceStore):
    store.write_table("users", D1, users_frame())
    with pytest.raises(EvidenceStoreError, match="no evidence for teams, calls on 2026-03-13") as info:
        store.write_report(D1, checks=CHECKS, manifest_fields=fields(), tables=["users", "teams", "calls"])
    assert info.value.kind == "incomplete"
    assert store.backend.list(f"aircall/reports/date={D1}") == []
    assert not store.verify(D1).ok


@pytest.mark.parametrize(
    "checks, words",
    [
        ([{"id": "AC-01", "status": "ok"}], "status 'ok'"),
        ([{"status": "pass"}], "lacks id"),
        ([{"id": "AC-01", "status": "pass"}, {"id": "AC-01", "status": "fail"}], "duplicate check ids"),
    ],
)
def test_bad_checks_write_nothing(local_store, checks, words):
    local_store.write_table("users", D1, users_frame())
    with pytest.raises(EvidenceStoreError, match=words):
        local_store.write_report(D1, checks=checks, manifest_fields=fields(), tables=["users"])
    assert local_store.backend.list(f"aircall/reports/date={D1}") == []


def test_manifest_fields_are_checked_and_unknown_ones_refused(local_store):
    local_store.write_table("users", D1, users_frame())
    with pytest.raises(EvidenceStoreError, match="lacks run_id"):
        local_store.write_report(D1, checks=CHECKS, manifest_fields={"company": "x"}, tables=["users"])
    with pytest.raises(EvidenceStoreError, match="may not set artifacts"):
        local_store.write_report(D1, checks=CHECKS, manifest_fields=fields(artifacts=[]), tables=["users"])
    # A manifest holds only what its schema declares, so that `verify` can refuse anything else.
    with pytest.raises(EvidenceStoreError, match="has call_windows, which a manifest does not hold"):
        local_store.write_report(D1, checks=CHECKS, manifest_fields=fields(call_windows=[]), tables=["users"])
    manifest = local_store.write_report(
        D1,
        checks=CHECKS,
        manifest_fields=fields(api_url="https://id:token@api.aircall.io", timezone="Europe/Paris"),
        tables=["users"],
    )
    assert manifest["api_url"] == "https://api.aircall.io"  # a credential in a URL never reaches evidence
    assert manifest["timezone"] == "Europe/Paris"
    assert b"token" not in local_store.backend.get(manifest.path)


def test_json_helpers():
    import numpy as np
    import pandas as pd

    assert to_jsonable({"a": np.int64(2**62), "b": float("nan"), "c": pd.Timestamp("2026-01-01T05:00", tz="UTC"),
                        "d": {1, 2}, "e": pd.NA}) == {
        "a": 2**62, "b": None, "c": "2026-01-01T05:00:00Z", "d": [1, 2], "e": None}
    assert iso_utc("2026-01-01T03:00:00+02:00") == "2026-01-01T01:00:00Z"
    assert json_bytes({"b": 1, "a": 2}) == b'{\n  "a": 2,\n  "b": 1\n}\n'
