"""records.jsonl: one flat record per check and day, scalar values only, pointing at its proof."""

from __future__ import annotations

import json

from aircall_pipeline_tests.compliance.sealed_day import DAY, REPORTS, seal


def records(store, manifest) -> list[dict]:
    [path] = [a.path for a in manifest.artifacts if a.path.endswith("/records.jsonl")]
    return [json.loads(line) for line in store.backend.get(path).decode("utf-8").splitlines()]


def test_one_flat_record_per_check(local_store):
    manifest = seal(local_store)
    rows = records(local_store, manifest)
    checks = json.loads(local_store.backend.get(f"{REPORTS}/checks.json"))
    assert [r["check_id"] for r in rows] == [c["id"] for c in checks]
    for row in rows:
        for key, value in row.items():
            assert isinstance(value, str | int | float | bool | type(None)), (row["check_id"], key, value)
    by_id = {r["check_id"]: r for r in rows}
    ac05 = by_id["AC-05"]
    assert ac05["status"] == "fail" and ac05["controls"] == "PCI:8.2.2,SOC2:CC6.1"
    assert json.loads(ac05["observed"]) == {"shared": 1}  # a structure becomes its JSON text
    assert ac05["threshold"] == "no generic mailboxes" and ac05["findings"] == 1
    assert (ac05["date"], ac05["attempt"]) == (DAY, 1)
    # The findings table it names is the one the manifest lists, by path and SHA-256.
    listed = {a.path: a.sha256 for a in manifest.artifacts}
    assert ac05["evidence_path"] == f"aircall/ac05_shared_accounts/date={DAY}/ac05_shared_accounts.parquet"
    assert listed[ac05["evidence_path"]] == ac05["evidence_sha256"]
    assert {r["manifest_uri"] for r in rows} == {manifest.uri}
    assert by_id["AC-01"]["observed"] == 2 and by_id["AC-08"]["findings"] == 1


def test_a_check_without_a_findings_table_says_so(local_store):
    manifest = local_store.write_report(
        DAY, checks=[{"id": "X-1", "status": "skip", "controls": [], "observed": None}],
        manifest_fields={"run_id": "r", "api_url": None, "company": None, "requests": {},
                         "collected_at": "2026-03-14T02:10:00Z"},
        tables=[])
    [row] = records(local_store, manifest)
    assert (row["evidence_path"], row["evidence_sha256"], row["controls"], row["observed"]) == (None, None, "", None)
