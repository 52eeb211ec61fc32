"""`aircall-pipeline package` / `verify-package`: an audit period's verified evidence in one signed zip,
checked offline; every tampering of the zip is caught, and a period that does not verify is refused
with nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from trestle.oscal.assessment_results import AssessmentResults

from aircall_pipeline.cli import main
from aircall_pipeline.compliance import catalogue
from aircall_pipeline.evidence import intake
from aircall_pipeline.evidence.package import (
    MANIFEST,
    OSCAL,
    SIGNATURE,
    PackageError,
    build_package,
    pick_sample,
    verify_package,
)
from aircall_pipeline.evidence.signing import TrustedKey, load_signer, sign_manifest
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline_tests.compliance.test_oscal import trestle_validate
from aircall_pipeline_tests.evidence.days import seal_day

FIELDS = {"run_id": "r", "api_url": "https://api.aircall.io", "company": "Northwind", "requests": {},
          "collected_at": "2026-04-01T00:00:00Z"}
DAYS = [f"2026-03-{d:02d}" for d in range(1, 31)]
FAILING = {"2026-03-04", "2026-03-17", "2026-03-29"}  # AC-05 fails on these days


def stub_pdf(html: str) -> bytes:
    """report.pdf is WeasyPrint's (seconds per day); the package only copies it, so a stub keeps 30 days fast."""
    return b"%PDF-1.4\n% stub report\n%%EOF\n"


def seal(store: EvidenceStore, day: str, signer=None) -> None:
    status = "fail" if day in FAILING else "pass"
    spec = catalogue.BY_ID["AC-05"]
    seal_day(store, day, tables={}, fields=FIELDS, signer=signer, checks=[
        {"id": "AC-05", "name": spec.name, "status": status, "reason": f"AC-05 {status}",
         "controls": list(spec.controls), "items": []}])


@pytest.fixture(scope="module")
def month(tmp_path_factory, key_pair):
    """30 signed days in a local store, sealed once for the module."""
    signer = load_signer(f"file:{key_pair[0]}")
    store = EvidenceStore.from_uri(tmp_path_factory.mktemp("month") / "evidence")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(intake, "render_pdf", stub_pdf)
        for day in DAYS:
            seal(store, day, signer)
    return store


@pytest.fixture(scope="module")
def package(month, key_pair, tmp_path_factory) -> Path:
    signer = load_signer(f"file:{key_pair[0]}")
    out = tmp_path_factory.mktemp("pkg") / "audit.zip"
    built = build_package(month, DAYS[0], DAYS[-1], out, signer=signer, trusted=TrustedKey.from_pem_file(key_pair[1]))
    assert built.days == DAYS and built.path == out
    return out


@pytest.fixture
def small(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "render_pdf", stub_pdf)
    return EvidenceStore.from_uri(tmp_path / "evidence")


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(source: Path, target: Path, change) -> Path:
    """A copy of the package with `change(members)` applied (members: name -> bytes, in order)."""
    files = members(source)
    change(files)
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return target


def problems(path: Path, trusted: TrustedKey) -> list[str]:
    result = verify_package(path, trusted)
    assert not result.valid
    return result.problems


# ---- a package of 30 signed days ---------------------------------------------------------------


def test_a_30_day_package_builds_and_verify_package_accepts_it(package, key_pair, capsys):
    assert main(["verify-package", str(package), "--public-key", key_pair[1]]) == 0
    out = capsys.readouterr().out
    assert "signature: valid" in out and "VALID:" in out and "2026-03-01 .. 2026-03-30 (30 days)" in out
    files = members(package)
    manifest = json.loads(files[MANIFEST])
    assert {m["path"] for m in manifest["members"]} == set(files) - {MANIFEST, SIGNATURE}
    assert manifest["days"] == DAYS and [d["date"] for d in manifest["day_manifests"]] == DAYS
    for day in DAYS:  # the days as stored, at their own paths, with their seals
        for base in ("manifest.json", "manifest.sig", "checks.json", "report.html", "report.pdf",
                     "assessment-results.json", "records.jsonl"):
            assert f"evidence/aircall/reports/date={day}/{base}" in files
        assert f"evidence/aircall/ac05_shared_accounts/date={day}/ac05_shared_accounts.parquet" in files
        assert f"evidence/aircall/users/date={day}/users.parquet" not in files  # raw: only --with-tables
    for name in ("README.txt", "SHA256SUMS", "key/public-key.pem", "key/fingerprint.txt", "scripts/check-signature.sh",
                 "summary/controls.json", "summary/controls.md", "summary/controls.csv", "verify/verify.txt",
                 "verify/verify.json", OSCAL):
        assert name in files, name
    assert files["key/public-key.pem"] == Path(key_pair[1]).read_bytes()
    assert files["key/fingerprint.txt"].decode().strip() == TrustedKey.from_pem_file(key_pair[1]).key_fingerprint
    text = files["verify/verify.txt"].decode()
    assert text.count("verdict:  VALID") == 30 and "range:    30 of 30 days valid" in text
    assert json.loads(files["verify/verify.json"])["valid"] is True


def test_openssl_alone_checks_the_unzipped_package(package, key_pair, tmp_path):
    with zipfile.ZipFile(package) as zf:
        zf.extractall(tmp_path)
    script = ["sh", "scripts/check-signature.sh"]
    checked = subprocess.run([*script, ".", MANIFEST, "key/public-key.pem"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout.startswith(f"VALID: {MANIFEST}"), checked
    sums = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path, capture_output=True, timeout=60)
    assert sums.returncode == 0, sums
    day = subprocess.run([*script, "evidence", f"aircall/reports/date={DAYS[3]}/manifest.json", "key/public-key.pem"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert day.returncode == 0, day
    manifest = tmp_path / MANIFEST
    manifest.write_bytes(manifest.read_bytes().replace(b'"to": "2026-03-30"', b'"to": "2026-03-31"'))
    forged = subprocess.run([*script, ".", MANIFEST, "key/public-key.pem"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert forged.returncode == 1 and "INVALID" in forged.stderr


def test_the_period_is_one_valid_oscal_document_with_a_result_per_day(package, tmp_path):
    files = members(package)
    document = json.loads(files[OSCAL])
    AssessmentResults.model_validate(document["assessment-results"])
    results = document["assessment-results"]["results"]
    assert [next(p["value"] for p in r["props"] if p["name"] == "date") for r in results] == DAYS
    checked = trestle_validate(document, tmp_path / "trestle")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Each day's Result is the one it sealed; its evidence links resolve inside the package.
    sealed = json.loads(files[f"evidence/aircall/reports/date={DAYS[3]}/assessment-results.json"])
    [day_result] = sealed["assessment-results"]["results"]
    assert results[3]["uuid"] == day_result["uuid"]
    assert [o["uuid"] for o in results[3]["observations"]] == [o["uuid"] for o in day_result["observations"]]
    hrefs = [e["href"] for r in results for o in r["observations"] for e in o.get("relevant-evidence", [])]
    assert hrefs
    for href in hrefs:
        assert os.path.normpath(os.path.join("oscal", unquote(href))) in files, href


def test_the_control_summary_counts_days_per_control(package):
    files = members(package)
    summary = json.loads(files["summary/controls.json"])
    by_control = {c["control"]: c for c in summary["controls"]}
    shared = by_control["PCI:8.2.2"]  # AC-05's control
    assert (shared["days"], shared["passed"], shared["failed"]) == (30, 27, 3)
    assert shared["failed_days"] == sorted(FAILING) and "AC-05" in shared["checks"]
    assert {c["check"]: c["fail"] for c in summary["checks"]}["AC-05"] == 3
    assert summary["open_findings"] == []  # the last day passed
    assert summary["access_reviews"] == {"in_period": [], "latest": None}
    assert "note" in summary["open_exceptions"]  # the placeholder days hold no sealed policy
    markdown = files["summary/controls.md"].decode()
    assert "| PCI:8.2.2 |" in markdown and "2026-03-04, 2026-03-17, 2026-03-29" in markdown
    assert files["summary/controls.csv"].decode().splitlines()[0].startswith("control,id,framework,checks,days")


# ---- tampering with the package ----------------------------------------------------------------


@pytest.fixture(scope="module")
def trusted_key(key_pair) -> TrustedKey:
    return TrustedKey.from_pem_file(key_pair[1])


def test_a_byte_changed_inside_a_member_is_caught(package, trusted_key, tmp_path):
    name = f"evidence/aircall/reports/date={DAYS[5]}/checks.json"

    def flip(files):
        data = bytearray(files[name])
        data[10] ^= 0x01
        files[name] = bytes(data)

    found = problems(rezip(package, tmp_path / "p.zip", flip), trusted_key)
    assert found == [f"ALTERED {name}: sha256 " + found[0].split("sha256 ")[1]]


def test_a_byte_changed_in_the_zip_file_itself_is_caught(package, trusted_key, tmp_path):
    raw = bytearray(package.read_bytes())
    with zipfile.ZipFile(package) as zf:
        info = zf.getinfo(f"evidence/aircall/reports/date={DAYS[0]}/report.pdf")  # stored, not deflated
    header = raw[info.header_offset:info.header_offset + 30]  # the local header: name and extra lengths
    at = info.header_offset + 30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    assert raw[at:at + 4] == b"%PDF"
    at += 5
    raw[at] ^= 0x20
    target = tmp_path / "p.zip"
    target.write_bytes(bytes(raw))
    assert any("report.pdf" in p for p in problems(target, trusted_key))


def test_a_member_added_removed_or_renamed_is_caught(package, trusted_key, tmp_path):
    added = rezip(package, tmp_path / "added.zip", lambda f: f.update({"evidence/aircall/extra.txt": b"x"}))
    assert problems(added, trusted_key) == ["UNLISTED evidence/aircall/extra.txt: in the package, but not in its "
                                            "signed manifest"]
    gone = "verify/verify.txt"
    removed = rezip(package, tmp_path / "removed.zip", lambda f: f.pop(gone))
    assert problems(removed, trusted_key) == [f"MISSING {gone}: listed in the signed manifest, not in the package"]
    renamed = rezip(package, tmp_path / "renamed.zip", lambda f: f.update({"verify/verify2.txt": f.pop(gone)}))
    assert sorted(problems(renamed, trusted_key)) == sorted([
        f"MISSING {gone}: listed in the signed manifest, not in the package",
        "UNLISTED verify/verify2.txt: in the package, but not in its signed manifest"])


def test_a_forged_package_signature_is_caught(package, trusted_key, other_key_pair, tmp_path):
    def edited(files):  # a member changed and the manifest rewritten to match, unsigned by the key
        name = "summary/controls.md"
        files[name] = b"# all controls passed\n"
        manifest = json.loads(files[MANIFEST])
        for m in manifest["members"]:
            if m["path"] == name:
                import hashlib

                m["bytes"], m["sha256"] = len(files[name]), hashlib.sha256(files[name]).hexdigest()
        files[MANIFEST] = json.dumps(manifest).encode()

    moved = problems(rezip(package, tmp_path / "moved.zip", edited), trusted_key)
    assert len(moved) == 1 and "not signed by the trusted key" in moved[0] and "changed" in moved[0]

    insider = load_signer(f"file:{other_key_pair[0]}")

    def resigned(files):
        edited(files)
        files[SIGNATURE] = sign_manifest(insider, MANIFEST, files[MANIFEST]).to_json()

    result = verify_package(rezip(package, tmp_path / "resigned.zip", resigned), trusted_key)
    assert not result.valid and result.signature.startswith("FOREIGN")
    unsigned = problems(rezip(package, tmp_path / "unsigned.zip", lambda f: f.pop(SIGNATURE)), trusted_key)
    assert "no signature file" in unsigned[0]


@pytest.mark.parametrize("name", ["../evil.sh", "/etc/evil", "evidence/../../evil", "C:\\evil", "evidence//x",
                                  "dir/"])
def test_unsafe_member_names_are_refused_and_nothing_is_extracted(package, trusted_key, tmp_path, name):
    target = rezip(package, tmp_path / "slip.zip", lambda f: f.update({name: b"#!/bin/sh\n"}))
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    found = problems(target, trusted_key)
    assert len(found) == 1 and found[0].startswith(f"REFUSED member {name!r}")
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before


def test_a_duplicate_member_or_a_link_entry_is_refused(package, trusted_key, tmp_path):
    target = tmp_path / "dup.zip"
    shutil.copy(package, target)
    with zipfile.ZipFile(target, "a") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("README.txt", b"another readme")
    assert "a second member with the same name" in problems(target, trusted_key)[0]
    link = rezip(package, tmp_path / "link.zip", lambda f: None)
    with zipfile.ZipFile(link, "a") as zf:
        info = zipfile.ZipInfo("evidence/link")
        info.external_attr = (0o120777) << 16
        zf.writestr(info, "/etc/passwd")
    assert "not a regular file" in problems(link, trusted_key)[0]


def test_verify_package_never_tracebacks(tmp_path, key_pair, capsys):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["verify-package", str(junk), "--public-key", key_pair[1]]) == 1
    assert "cannot be read as a zip" in capsys.readouterr().out
    assert main(["verify-package", str(tmp_path / "none.zip"), "--public-key", key_pair[1]]) == 2
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    assert main(["verify-package", str(empty), "--public-key", key_pair[1], "--json"]) == 1
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["valid"] is False


# ---- refusals: nothing is left behind ----------------------------------------------------------


def left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def refused(store, start, end, out: Path, signer, trusted) -> PackageError:
    with pytest.raises(PackageError) as caught:
        build_package(store, start, end, out, signer=signer, trusted=trusted)
    assert not out.exists() and left_behind(out.parent) == []
    return caught.value


@pytest.fixture
def out(tmp_path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out" / "audit.zip"


def test_a_gap_is_refused_with_the_day(small, signer, trusted, out):
    for day in (DAYS[0], DAYS[2]):
        seal(small, day, signer)
    error = refused(small, DAYS[0], DAYS[2], out, signer, trusted)
    assert error.refused and error.days == [DAYS[1]] and f"{DAYS[1]}: a gap" in str(error)


def test_an_unsigned_day_is_refused_with_the_day(small, signer, trusted, out):
    seal(small, DAYS[0], signer)
    seal(small, DAYS[1])  # no signer
    seal(small, DAYS[2], signer)
    error = refused(small, DAYS[0], DAYS[2], out, signer, trusted)
    assert error.refused and DAYS[1] in error.days and f"{DAYS[1]}: unsigned" in str(error)


def test_an_altered_day_is_refused_with_the_day(small, signer, trusted, out, tmp_path):
    for day in DAYS[:3]:
        seal(small, day, signer)
    checks = tmp_path / "evidence" / "aircall" / "reports" / f"date={DAYS[1]}" / "checks.json"
    os.chmod(checks, 0o644)
    checks.write_bytes(checks.read_bytes().replace(b'"pass"', b'"fail"', 1))
    error = refused(small, DAYS[0], DAYS[2], out, signer, trusted)
    assert error.refused and error.days == [DAYS[1]] and "checks.json" in str(error)


def test_a_period_longer_than_the_store_holds_is_refused(small, signer, trusted, out):
    for day in DAYS[1:3]:
        seal(small, day, signer)
    error = refused(small, DAYS[0], DAYS[2], out, signer, trusted)
    assert error.refused and "longer than the evidence holds" in str(error) and error.days == [DAYS[0]]
    error = refused(small, DAYS[1], DAYS[4], out, signer, trusted)
    assert error.days == DAYS[3:5]
    empty = EvidenceStore.from_uri(out.parent.parent / "nothing")
    assert "no sealed day" in str(refused(empty, DAYS[0], DAYS[0], out, signer, trusted))


def test_an_unwritable_output_is_refused(small, signer, trusted, tmp_path, out, capsys, key_pair, monkeypatch):
    seal(small, DAYS[0], signer)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(PackageError) as caught:
        build_package(small, DAYS[0], DAYS[0], tmp_path / "a-file" / "audit.zip", signer=signer, trusted=trusted)
    assert not caught.value.refused and "not a folder" in str(caught.value)
    out.write_bytes(b"an earlier package")  # never written over
    with pytest.raises(PackageError, match="already exists"):
        build_package(small, DAYS[0], DAYS[0], out, signer=signer, trusted=trusted)
    assert out.read_bytes() == b"an earlier package" and left_behind(out.parent) == ["audit.zip"]
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(PackageError, match="not writable"):
            build_package(small, DAYS[0], DAYS[0], locked / "audit.zip", signer=signer, trusted=trusted)
        assert left_behind(locked) == []
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{key_pair[0]}")
    argv = ["package", str(tmp_path / "evidence"), "--from", DAYS[0], "--to", DAYS[0], "--public-key", key_pair[1]]
    assert main([*argv, "--out", str(tmp_path / "a-file" / "p.zip")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_a_failure_while_writing_leaves_nothing(small, signer, trusted, out, monkeypatch):
    seal(small, DAYS[0], signer)
    from aircall_pipeline.evidence import package as package_module

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(package_module, "summary_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        build_package(small, DAYS[0], DAYS[0], out, signer=signer, trusted=trusted)
    assert left_behind(out.parent) == []


# ---- the command, sampling, tables -------------------------------------------------------------


def test_the_command_writes_a_sampled_package_with_tables(small, signer, key_pair, tmp_path, out, capsys, monkeypatch):
    for day in DAYS[:5]:
        seal(small, day, signer)
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{key_pair[0]}")
    argv = ["package", str(tmp_path / "evidence"), "--from", DAYS[0], "--to", DAYS[4], "--out", str(out),
            "--public-key", key_pair[1], "--with-tables", "--sample", "2", "--seed", "42"]
    assert main(argv) == 0
    expected = pick_sample(DAYS[:5], 2, 42)
    assert f"sample (seed 42): {', '.join(expected)}" in capsys.readouterr().out
    files = members(out)
    sample = json.loads(files["sample.json"])
    assert (sample["seed"], sample["n"], sample["sample"]) == (42, 2, expected)
    assert json.loads(files[MANIFEST])["sample"] == expected
    for day in DAYS[:5]:  # raw tables of the sampled days only
        assert (f"evidence/aircall/users/date={day}/users.parquet" in files) == (day in expected)
    assert main(["verify-package", str(out), "--public-key", key_pair[1]]) == 0
    # Refused: the command exits 1, names the day and writes nothing.
    os.remove(out)
    seal(small, DAYS[6], signer)
    assert main([*argv[:5], DAYS[6], "--out", str(out), "--public-key", key_pair[1]]) == 1
    err = capsys.readouterr().err
    assert f"{DAYS[5]}: a gap" in err and not out.exists()


def test_sampling_is_reproducible():
    assert pick_sample(DAYS, 5, 7) == pick_sample(list(reversed(DAYS)), 5, 7)
    assert pick_sample(DAYS, 5, 7) != pick_sample(DAYS, 5, 8)
    assert len(set(pick_sample(DAYS, 30, 1))) == 30
    with pytest.raises(PackageError):
        pick_sample(DAYS, 31, 1)


def test_the_signing_key_must_be_the_trusted_key(small, signer, other_key_pair, out):
    seal(small, DAYS[0], signer)
    with pytest.raises(PackageError, match="is not the trusted key"):
        build_package(small, DAYS[0], DAYS[0], out, signer=signer,
                      trusted=TrustedKey.from_pem_file(other_key_pair[1]))
    assert left_behind(out.parent) == []


def test_access_reviews_are_packaged_and_summarised(small, signer, trusted, out):
    from datetime import UTC, datetime

    from aircall_pipeline_tests.compliance import test_review as review

    review.seal_review_day(small, signer)
    review.stored_review(small, signer, trusted, {101: "keep", 102: "remove", 103: "keep"},
                         datetime(2026, 3, 14, 9, tzinfo=UTC))
    build_package(small, review.DAY, review.DAY, out, signer=signer, trusted=trusted)
    files = members(out)
    folder = f"evidence/aircall/reviews/date={review.DAY}"
    for base in ("review.csv", "attestation.json", "attestation.sig", "manifest.json", "manifest.sig"):
        assert f"{folder}/{base}" in files
    reviews = json.loads(files["summary/controls.json"])["access_reviews"]
    assert reviews["in_period"] == [review.DAY]
    assert reviews["latest"]["date"] == review.DAY and reviews["latest"]["signature"] == "valid"
    assert f"in the period: {review.DAY}" in files["summary/controls.md"].decode()
    assert verify_package(out, trusted).valid
