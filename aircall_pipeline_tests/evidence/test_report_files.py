"""verify and the report folder's files: exactly one of each by exact base name (report.pdf is not a
second report.html), the platform files required from manifest version 4 on, and no other file.

The manifests here are unsigned and edited by hand: verify judges their content like any other, and
a signed store would call them FORGED on top (test_integrity.py)."""

from __future__ import annotations

import hashlib
import json

import pytest

from aircall_pipeline.evidence.layout import INTAKE_REPORT_BASES, LISTED_REPORT_BASES
from aircall_pipeline.evidence.manifest import json_bytes
from aircall_pipeline_tests.compliance.sealed_day import DAY, REPORTS, seal
from aircall_pipeline_tests.evidence.test_manifest import tamper

MANIFEST = f"{REPORTS}/manifest.json"


def edit_manifest(store, edit) -> None:
    data = json.loads(store.backend.get(MANIFEST))
    edit(data)
    tamper(store, MANIFEST, json_bytes(data))


def content_problems(store) -> list[str]:
    return [p for p in store.verify(DAY).problems if "it must list exactly one of each" in p]


def test_a_sealed_day_lists_each_report_file_once_and_verifies(local_store):
    manifest = seal(local_store)
    names = sorted(a.path.rsplit("/", 1)[1] for a in manifest.artifacts if a.path.startswith(REPORTS + "/"))
    assert names == sorted(LISTED_REPORT_BASES)
    verification = local_store.verify(DAY)
    assert verification.ok, verification.problems


@pytest.mark.parametrize("base", INTAKE_REPORT_BASES)
def test_a_version_4_manifest_without_a_platform_file_does_not_verify(local_store, base):
    seal(local_store)
    edit_manifest(local_store, lambda d: d.update(artifacts=[a for a in d["artifacts"]
                                                             if not a["path"].endswith("/" + base)]))
    [problem] = content_problems(local_store)
    assert f"0 {base}" in problem and "1 checks.json" in problem


def test_a_second_report_file_of_the_same_base_does_not_verify(local_store):
    seal(local_store)
    copy = f"{REPORTS}/report.attempt-2.pdf"
    raw = local_store.backend.get(f"{REPORTS}/report.pdf")
    local_store.backend.put_if_absent(copy, raw)
    entry = {"path": copy, "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw), "rows": None}
    edit_manifest(local_store, lambda d: d["artifacts"].append(entry))
    [problem] = content_problems(local_store)
    assert "2 report.pdf" in problem and "1 report.html" in problem


def test_any_other_listed_file_in_the_report_folder_does_not_verify(local_store):
    seal(local_store)
    stray = f"{REPORTS}/report.txt"
    local_store.backend.put_if_absent(stray, b"note\n")
    entry = {"path": stray, "sha256": hashlib.sha256(b"note\n").hexdigest(), "bytes": 5, "rows": None}
    edit_manifest(local_store, lambda d: d["artifacts"].append(entry))
    [problem] = content_problems(local_store)
    assert f"{stray} besides" in problem


def test_a_version_3_day_needs_no_platform_files(local_store):
    seal(local_store)
    for base in INTAKE_REPORT_BASES:
        tamper(local_store, f"{REPORTS}/{base}", None)

    def as_version_3(data):
        data["manifest_version"] = 3
        data["artifacts"] = [a for a in data["artifacts"]
                             if not any(a["path"].endswith("/" + b) for b in INTAKE_REPORT_BASES)]
    edit_manifest(local_store, as_version_3)
    assert content_problems(local_store) == []
