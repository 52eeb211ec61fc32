"""`aircall-pipeline review export`: the roles column comes from the account under review (`--account`,
else the account whose evidence_uri is EVIDENCE_URI, else the only one), and its roles file is read
as the pipeline reads it, s3:// included (moto's server over HTTP)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from aircall_pipeline.cli import main
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline_tests.compliance.test_review import DAY, seal_review_day

ROLES = "email,role\nada@example.com,admin\nmallory@example.com,agent\n"


@pytest.fixture(autouse=True)
def plain_env(monkeypatch):
    for name in ("AIRCALL_ACCOUNTS_FILE", "AIRCALL_ROLES_URI", "AIRCALL_ROSTER_URI", "AIRCALL_POLICY_FILE",
                 "EVIDENCE_SIGNING_KEY", "EVIDENCE_PUBLIC_KEY", "EVIDENCE_URI"):
        monkeypatch.delenv(name, raising=False)


def roles_of(csv_file: Path) -> dict[str, str]:
    lines = csv_file.read_text().splitlines()
    return {row["email"]: row["role"] for row in csv.DictReader(io.StringIO("\n".join(lines[1:])))}


def sealed_store(folder: Path, signer) -> EvidenceStore:
    store = EvidenceStore.from_uri(folder)
    seal_review_day(store, signer)
    return store


def two_accounts(tmp_path: Path, monkeypatch, signer) -> dict[str, EvidenceStore]:
    """acme_eu and acme_us, each with its own sealed evidence and its own roles file."""
    lines = ["accounts:"]
    stores = {}
    for name, admin in (("acme_eu", "ada@example.com"), ("acme_us", "mallory@example.com")):
        roles = tmp_path / f"{name}-roles.csv"
        roles.write_text(f"email,role\n{admin},admin\n")
        stores[name] = sealed_store(tmp_path / name, signer)
        lines += [f"  - name: {name}", f"    api_id_env: {name.upper()}_ID", f"    api_token_env: {name.upper()}_TOKEN",
                  f"    evidence_uri: {tmp_path / name}", f"    roles_uri: {roles}"]
    (tmp_path / "accounts.yaml").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(tmp_path / "accounts.yaml"))
    return stores


def test_an_s3_roles_file_fills_the_role_column(tmp_path, monkeypatch, signer, s3_client, s3_bucket):
    s3_client.put_object(Bucket=s3_bucket, Key="inputs/roles.csv", Body=ROLES.encode())
    monkeypatch.setenv("AIRCALL_ROLES_URI", f"s3://{s3_bucket}/inputs/roles.csv")
    store = sealed_store(tmp_path / "evidence", signer)
    out = tmp_path / "review.csv"
    assert main(["review", "export", store.uri, "--date", DAY, "--out", str(out)]) == 0
    assert roles_of(out) == {"ada@example.com": "admin", "mallory@example.com": "agent", "support@example.com": ""}


def test_a_missing_s3_roles_file_is_a_clear_error(tmp_path, monkeypatch, signer, s3_bucket, capsys):
    monkeypatch.setenv("AIRCALL_ROLES_URI", f"s3://{s3_bucket}/inputs/nothing.csv")
    store = sealed_store(tmp_path / "evidence", signer)
    assert main(["review", "export", store.uri, "--date", DAY, "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert f"s3://{s3_bucket}/inputs/nothing.csv" in err and "cannot be read" in err
    assert not (tmp_path / "r.csv").exists()


def test_account_picks_that_accounts_roles(tmp_path, monkeypatch, signer, capsys):
    stores = two_accounts(tmp_path, monkeypatch, signer)
    out = tmp_path / "us.csv"
    assert main(["review", "export", stores["acme_us"].uri, "--date", DAY, "--out", str(out),
                 "--account", "acme_us"]) == 0
    assert roles_of(out)["mallory@example.com"] == "admin" and roles_of(out)["ada@example.com"] == ""
    assert "note:" not in capsys.readouterr().err
    # Exporting acme_eu's evidence for acme_us is allowed (a copy, an auditor's bucket), but said.
    assert main(["review", "export", stores["acme_eu"].uri, "--date", DAY, "--out", str(tmp_path / "x.csv"),
                 "--account", "acme_us"]) == 0
    assert "account acme_us's evidence is at" in capsys.readouterr().err


def test_without_account_the_evidence_uri_says_whose_it_is(tmp_path, monkeypatch, signer):
    stores = two_accounts(tmp_path, monkeypatch, signer)
    out = tmp_path / "eu.csv"
    assert main(["review", "export", stores["acme_eu"].uri, "--date", DAY, "--out", str(out)]) == 0
    assert roles_of(out)["ada@example.com"] == "admin" and roles_of(out)["mallory@example.com"] == ""


def test_an_unknown_or_missing_account_is_refused(tmp_path, monkeypatch, signer, key_pair, capsys):
    two_accounts(tmp_path, monkeypatch, signer)
    elsewhere = sealed_store(tmp_path / "copy", signer)
    args = ["review", "export", elsewhere.uri, "--date", DAY, "--out", str(tmp_path / "r.csv")]
    assert main(args) == 2
    assert "choose one with --account" in capsys.readouterr().err
    assert main([*args, "--account", "nobody"]) == 2
    assert "no account named 'nobody'" in capsys.readouterr().err
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{key_pair[0]}")
    assert main(["review", "import", elsewhere.uri, "--date", DAY, str(tmp_path / "r.csv"), "--reviewer",
                 "ciso@example.com", "--account", "nobody"]) == 2
    assert "no account named 'nobody'" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()
