"""The evidence package's module boundaries (issue 19): the store is a front over one module per job,
a stored signature is judged in one place for the store and for `verify` alike, day folders are parsed
only in layout.py, and the package imports nothing that could import back into it."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import aircall_pipeline.evidence.signature_check as signature_check
from aircall_pipeline.evidence.layout import date_of_key, day_entry
from aircall_pipeline.evidence.signing import load_signer, sign_manifest
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
from aircall_pipeline_tests.evidence.conftest import BIG_ID
from aircall_pipeline_tests.evidence.days import seal_day
from aircall_pipeline_tests.evidence.test_manifest import CHECKS, fields, tamper

EVIDENCE = Path(signature_check.__file__).parent
DAY = "2026-03-13"
MANIFEST = f"aircall/reports/date={DAY}/manifest.json"
ATTESTATION = f"aircall/reviews/date={DAY}/attestation.json"
# One job each, behind the store's front and verify's orchestration.
SPLIT = ("store", "tables", "attempts", "sealing", "reviews", "stored", "signature_check",
         "verify", "verify_reading", "verdicts")


def _tree(name: str) -> ast.Module:
    return ast.parse((EVIDENCE / f"{name}.py").read_text())


def _imported_names(tree: ast.Module) -> set[str]:
    return {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}


# --------------------------------------------------------------------------------------------------
# Shape


@pytest.mark.parametrize("name", SPLIT)
def test_each_module_is_small_and_says_its_job(name):
    text = (EVIDENCE / f"{name}.py").read_text()
    assert len(text.splitlines()) < 600
    assert ast.get_docstring(ast.parse(text)), f"{name}.py has no docstring saying what it is for"


def test_the_package_imports_none_of_its_modules():
    """A package __init__ that imports the store makes every `from aircall_pipeline.evidence import x`
    inside the store's own dependencies an import cycle."""
    tree = ast.parse((EVIDENCE / "__init__.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_the_store_and_verify_load_without_dagster():
    code = ("import sys, aircall_pipeline.evidence.store, aircall_pipeline.evidence.verify; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(EVIDENCE.parents[1])})
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------------
# One stored-signature check


@pytest.mark.parametrize("name", ["store", "attempts", "sealing", "reviews", "verify", "verify_reading"])
def test_no_store_or_verify_module_checks_a_signature_itself(name):
    assert "check_signature" not in _imported_names(_tree(name)), (
        f"{name}.py calls signing.check_signature itself: read and judge stored signatures with "
        "signature_check, so that the store and verify cannot disagree")


def test_the_store_and_verify_both_use_the_one_check():
    users = {"attempts": {"check_stored_signature"}, "reviews": {"check_stored_signature"},
             "verify_reading": {"read_signature", "judge_signature"}, "verify": {"check_stored_signature"}}
    for name, functions in users.items():
        assert functions <= _imported_names(_tree(name)), name


def _seal_with_review(store: EvidenceStore, signer) -> None:
    store.clock = lambda: datetime.fromisoformat(DAY).replace(tzinfo=UTC) + timedelta(days=1, hours=2)
    seal_day(store, DAY, tables={}, checks=CHECKS, fields=fields(), signer=signer)
    manifest = store.backend.get(MANIFEST)
    store.clock = lambda: datetime.fromisoformat(DAY).replace(tzinfo=UTC) + timedelta(days=1, hours=9)
    store.write_review(
        DAY, pd.DataFrame({"user_id": pd.array([BIG_ID], dtype="int64"), "decision": ["keep"]}),
        {"kind": "aircall-access-review", "date": DAY, "reviewer": "ciso@example.com",
         "reviewed_at": "2026-03-14T09:00:00Z",
         "snapshot": {"path": MANIFEST, "sha256": hashlib.sha256(manifest).hexdigest()},
         "users": 1, "keep": 1, "remove": 0, "removed_user_ids": []},
        signer)


def _tampered_signature(how: str, store: EvidenceStore, path: str, other_key_pair) -> None:
    sig = path[: -len(".json")] + ".sig"
    if how == "garbage":
        tamper(store, sig, b"not a signature file\n")
    elif how == "another key":
        insider = load_signer(f"file:{other_key_pair[0]}")
        tamper(store, sig, sign_manifest(insider, path, store.backend.get(path)).to_json())
    elif how == "moved":  # a genuine signature, of another document
        other = MANIFEST if path == ATTESTATION else ATTESTATION
        tamper(store, sig, store.backend.get(other[: -len(".json")] + ".sig"))
    elif how == "removed":
        tamper(store, sig, None)
    else:  # "forged bytes": the genuine signature file with signature bytes no key made
        body = json.loads(store.backend.get(sig))
        body["signature"] = base64.b64encode(bytes(64)).decode()
        tamper(store, sig, json.dumps(body).encode())


@pytest.mark.parametrize("how", ["garbage", "another key", "moved", "removed", "forged bytes"])
@pytest.mark.parametrize("path", [MANIFEST, ATTESTATION], ids=["manifest", "attestation"])
def test_a_tampered_signature_gets_the_same_verdict_from_the_store_and_from_verify(
        local_store, signer, trusted, other_key_pair, how, path):
    _seal_with_review(local_store, signer)
    _tampered_signature(how, local_store, path, other_key_pair)
    raw = local_store.backend.get(path)
    read = lambda key: local_store.backend.get(key, limit=1 << 20)  # noqa: E731
    expected = signature_check.check_stored_signature(read, path, raw, trusted)
    assert not expected.valid

    verified = local_store.verify(DAY, trusted)
    assert not verified.ok
    if path == MANIFEST:
        with pytest.raises(EvidenceStoreError) as refused:
            local_store.read_manifest(DAY, trusted)
        assert f"{path} ({expected.state}: {expected.reason})" in str(refused.value)
        assert verified.attempts[0].signature == f"FORGED ({expected.state})"
        assert any(p.startswith(f"FORGED {path}: {expected.reason}.") for p in verified.problems)
    else:
        assert local_store.latest_review(DAY, trusted)["signature"] == expected.state
        assert f"FORGED {path}: the attestation {expected.reason}" in verified.problems


def test_both_paths_reach_the_signature_through_signature_check(local_store, signer, trusted, monkeypatch):
    _seal_with_review(local_store, signer)
    judged: list[str] = []
    real = signature_check.check_signature

    def spy(path, *args):
        judged.append(path)
        return real(path, *args)

    monkeypatch.setattr(signature_check, "check_signature", spy)
    assert local_store.read_manifest(DAY, trusted) is not None
    assert judged == [MANIFEST], "the store checked the manifest's signature without signature_check"
    judged.clear()
    assert local_store.latest_review(DAY, trusted)["signature"] == "valid"
    assert ATTESTATION in judged, "the store checked the attestation's signature without signature_check"
    judged.clear()
    assert local_store.verify(DAY, trusted).authenticated
    assert {MANIFEST, ATTESTATION} <= set(judged), "verify checked a signature without signature_check"


# --------------------------------------------------------------------------------------------------
# One day-folder parser


def test_day_entries_and_dates_of_keys():
    assert day_entry(f"aircall/users/date={DAY}/users.parquet", "users") == (DAY, "users.parquet")
    assert day_entry(f"aircall/users/date={DAY}/users.parquet", "teams") is None
    assert day_entry(f"aircall/users/date={DAY}/hidden/users.parquet", "users") is None
    assert date_of_key(f"aircall/users/date={DAY}/hidden/users.parquet") == DAY
    for bad in ("date=2026-02-30", "date=2026-03-1\u0663", "date=26-03-13", "day=2026-03-13"):
        assert day_entry(f"aircall/users/{bad}/users.parquet", "users") is None
        assert date_of_key(f"aircall/users/{bad}/users.parquet") is None
    assert date_of_key(f"elsewhere/users/date={DAY}/users.parquet") is None


def test_day_folders_are_parsed_only_in_layout():
    for path in sorted(EVIDENCE.glob("*.py")):
        if path.name == "layout.py":
            continue
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | _imported_names(tree)
        assert not names & {"day_of_folder", "DATE_FOLDER"}, (
            f"{path.name} parses day folders itself: use layout.day_entry or layout.date_of_key")
