"""assessment-results.json: OSCAL that trestle's models and `trestle validate` accept, built from the
sealed checks, with the evidence it cites and the controls the catalogue maps."""

from __future__ import annotations

import copy
import hashlib
import json
import posixpath
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog

from aircall_pipeline.compliance import catalogue
from aircall_pipeline.compliance.oscal import controls
from aircall_pipeline.compliance.oscal.assessment import control_state
from aircall_pipeline.config.policy import CompliancePolicy
from aircall_pipeline.evidence import intake
from aircall_pipeline_tests.compliance.sealed_day import (
    DAY,
    FRESH_FOR,
    REPORTS,
    SEALED_AT,
    assessment_document,
    seal,
)

TRESTLE = str(Path(sys.executable).with_name("trestle"))


def trestle_validate(document: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """`trestle validate` of `document` the way an OSCAL user runs it: in a trestle workspace."""
    workspace = tmp_path / "workspace"
    workspace.mkdir(parents=True)
    subprocess.run([TRESTLE, "init"], cwd=workspace, check=True, capture_output=True, timeout=120)
    target = workspace / "assessment-results" / "day" / "assessment-results.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(document))
    return subprocess.run([TRESTLE, "validate", "-f", str(target)], cwd=workspace, capture_output=True,
                          text=True, timeout=120)


def observations(document: dict) -> dict[str, dict]:
    [result] = document["assessment-results"]["results"]
    return {next(p["value"] for p in o["props"] if p["name"] == "check-id"): o for o in result["observations"]}


def findings(document: dict) -> dict[str, dict]:
    [result] = document["assessment-results"]["results"]
    return {f["target"]["target-id"]: f for f in result["findings"]}


def test_the_catalog_holds_exactly_the_mapped_controls_with_short_titles():
    Catalog.model_validate(controls.catalog()["catalog"])
    mapped = {m for spec in catalogue.CHECKS for m in spec.controls}
    ids = [c["id"] for g in controls.catalog()["catalog"]["groups"] for c in g["controls"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {controls.objective_id(m) for m in mapped}
    for mapping in mapped:
        entry = controls.control(mapping)
        assert entry["label"] == mapping.split(":", 1)[1]  # the framework's own spelling
        assert 3 <= len(entry["title"].split()) <= 8, entry  # our short title, not the standard's text


@pytest.mark.parametrize(("mapping", "expected"), [
    ("SOC2:CC6.2", "soc2-cc6.2"), ("ISO27001:A.8.2", "iso27001-a.8.2"), ("PCI:7.2.4", "pci-7.2.4"),
    ("HIPAA:164.308(a)(3)(ii)(C)", "hipaa-164.308.a.3.ii.c"), ("GDPR:Art.5(1)(e)", "gdpr-art.5.1.e"),
])
def test_objective_ids_are_oscal_tokens(mapping, expected):
    assert controls.objective_id(mapping) == expected


@pytest.mark.parametrize("mapping", ["CC6.2", ":7.2.4", "PCI:", "PCI:7 2 4"])
def test_a_malformed_mapping_is_refused(mapping):
    with pytest.raises(ValueError):
        controls.objective_id(mapping)


def test_the_default_freshness_is_the_policy_default():
    assert intake.DEFAULT_FRESHNESS == timedelta(hours=CompliancePolicy().freshness_max_age_hours)


def test_a_sealed_day_is_valid_oscal_for_the_models_and_trestle_validate(local_store, tmp_path):
    manifest = seal(local_store)
    document = assessment_document(local_store, manifest)
    AssessmentResults.model_validate(document["assessment-results"])
    checked = trestle_validate(document, tmp_path / "good")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The command really judges: two observations with one uuid are refused.
    broken = copy.deepcopy(document)
    [result] = broken["assessment-results"]["results"]
    result["observations"][1]["uuid"] = result["observations"][0]["uuid"]
    assert trestle_validate(broken, tmp_path / "broken").returncode != 0


def test_every_check_is_an_observation_citing_the_files_it_judged(local_store):
    manifest = seal(local_store)
    document = assessment_document(local_store, manifest)
    seen = observations(document)
    assert list(seen) == [c["id"] for c in json.loads(local_store.backend.get(f"{REPORTS}/checks.json"))]
    ac05 = seen["AC-05"]
    assert ac05["methods"] == ["TEST"]
    props = {p["name"]: p["value"] for p in ac05["props"]}
    assert props["status"] == "fail" and props["threshold"] == "no generic mailboxes"
    assert json.loads(props["observed"]) == {"shared": 1}
    assert datetime.fromisoformat(ac05["collected"]) == SEALED_AT == datetime.fromisoformat(manifest["sealed_at"])
    assert datetime.fromisoformat(ac05["expires"]) == SEALED_AT + FRESH_FOR
    # Each cited file, resolved from the document's folder, is a stored file with the cited SHA-256.
    cited = {}
    for evidence in ac05["relevant-evidence"]:
        path = posixpath.normpath(posixpath.join(REPORTS, unquote(evidence["href"])))
        cited[path] = {p["name"]: p["value"] for p in evidence["props"]}["sha256"]
    assert cited == {
        f"aircall/users/date={DAY}/users.parquet": local_store.stored_artifact(
            f"aircall/users/date={DAY}/users.parquet").sha256,
        f"aircall/ac05_shared_accounts/date={DAY}/ac05_shared_accounts.parquet": local_store.stored_artifact(
            f"aircall/ac05_shared_accounts/date={DAY}/ac05_shared_accounts.parquet").sha256,
    }
    assert all(hashlib.sha256(local_store.backend.get(p)).hexdigest() == sha for p, sha in cited.items())
    # A reason across lines is still one OSCAL property-free remark.
    assert seen["AC-01"]["remarks"] == "2 users, as the company says"


def test_each_mapped_control_is_a_finding_on_its_checks(local_store):
    document = assessment_document(local_store, seal(local_store))
    found = findings(document)
    mapped = {m for c in json.loads(local_store.backend.get(f"{REPORTS}/checks.json")) for m in c["controls"]}
    assert set(found) == {controls.objective_id(m) for m in mapped}
    uuids = {cid: o["uuid"] for cid, o in observations(document).items()}
    # CC6.1: AC-01 passed, AC-05 failed -> not satisfied, for a fail, citing both observations.
    cc61 = found["soc2-cc6.1"]
    assert cc61["target"]["type"] == "objective-id"
    assert cc61["target"]["status"] == {"state": "not-satisfied", "reason": "fail"}
    assert {r["observation-uuid"] for r in cc61["related-observations"]} >= {uuids["AC-01"], uuids["AC-05"]}
    # CC6.3 is mapped by AC-08's warn and the placeholders' passes: not satisfied, for another reason.
    assert found["soc2-cc6.3"]["target"]["status"] == {"state": "not-satisfied", "reason": "other"}
    # PCI 7.2.4: every check mapped to it passed.
    assert found["pci-7.2.4"]["target"]["status"]["state"] == "satisfied"
    [result] = document["assessment-results"]["results"]
    reviewed = result["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert {c["control-id"] for c in reviewed} == set(found)


@pytest.mark.parametrize(("statuses", "expected"), [
    (["pass", "pass"], ("satisfied", "pass")),
    (["pass", "error"], ("not-satisfied", "fail")),
    (["warn", "fail"], ("not-satisfied", "fail")),
    (["pass", "skip"], ("not-satisfied", "other")),
    ([], ("not-satisfied", "other")),
])
def test_control_state(statuses, expected):
    assert control_state(statuses) == expected


def test_same_inputs_same_document_other_day_other_ids(local_store, tmp_path):
    from aircall_pipeline.evidence.store import EvidenceStore

    first = assessment_document(local_store, seal(local_store))
    again_store = EvidenceStore.from_uri(tmp_path / "again")
    again = assessment_document(again_store, seal(again_store))
    assert again == first
    uuids = {o["uuid"] for o in observations(first).values()}
    assert len(uuids) == len(observations(first))
    from aircall_pipeline.compliance.oscal.assessment import stable_uuid

    assert stable_uuid(DAY, "observation", "AC-01") in uuids
    assert stable_uuid("2026-03-14", "observation", "AC-01") not in uuids
