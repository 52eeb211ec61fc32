"""`aircall-pipeline verify`: per-file lines, a verdict, and an exit status a script can rely on."""

from __future__ import annotations

import os
import subprocess
import sys

from aircall_pipeline.cli import main
from aircall_pipeline.evidence.layout import LISTED_REPORT_BASES
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import EVIDENCE_TABLES
from aircall_pipeline_tests.evidence.conftest import users_frame
from aircall_pipeline_tests.evidence.days import seal_day

D1, D2 = "2026-03-13", "2026-03-14"
FIELDS = {"run_id": "r", "api_url": "https://api.aircall.io", "company": "c", "requests": {},
          "collected_at": "2026-03-15T00:00:00Z"}


def seal(store: EvidenceStore, day: str, signer=None) -> None:
    seal_day(store, day, tables={"users": users_frame()}, checks=[{"id": "AC-01", "status": "pass"}], fields=FIELDS,
             signer=signer)


def test_verify_ok_then_tampered(tmp_path, capsys, signer, key_pair):
    root = tmp_path / "evidence"
    store = EvidenceStore.from_uri(root)
    seal(store, D1, signer)
    seal(store, D2, signer)
    verify = ["verify", str(root), "--date", D2, "--public-key", key_pair[1]]
    assert main(verify) == 0
    out = capsys.readouterr().out
    assert f"ok       aircall/users/date={D2}/users.parquet" in out
    assert "previous: ok aircall/reports/date=2026-03-13/manifest.json" in out
    assert "verdict:  VALID: complete and untampered" in out and signer.key_fingerprint in out

    csv_path = root / "aircall" / "users" / f"date={D2}" / "users.csv"
    os.chmod(csv_path, 0o644)
    csv_path.write_bytes(csv_path.read_bytes() + b"1,forged,,,,\n")
    (root / "aircall" / "users" / f"date={D2}" / "users.parquet").unlink()
    assert main(verify) == 1
    out = capsys.readouterr().out
    # Read no further than the size its manifest declares: a file that grew is altered at once.
    assert f"ALTERED  aircall/users/date={D2}/users.csv" in out and "larger than the 222 bytes its manifest" in out
    assert f"MISSING  aircall/users/date={D2}/users.parquet" in out
    assert "verdict:  NOT VERIFIED" in out


def test_default_date_is_the_newest_sealed_day(tmp_path, capsys, signer, key_pair, monkeypatch):
    store = EvidenceStore.from_uri(tmp_path)
    seal(store, D1, signer)
    seal(store, D2, signer)
    monkeypatch.setenv("EVIDENCE_PUBLIC_KEY", key_pair[1])  # the trusted key from the environment
    assert main(["verify", str(tmp_path)]) == 0
    assert f"date:     {D2}" in capsys.readouterr().out


def test_without_a_trusted_key_nothing_is_called_untampered(tmp_path, capsys, signer, monkeypatch):
    monkeypatch.delenv("EVIDENCE_PUBLIC_KEY", raising=False)
    store = EvidenceStore.from_uri(tmp_path)
    seal(store, D1, signer)
    assert main(["verify", str(tmp_path), "--date", D1]) == 1
    out = capsys.readouterr().out
    assert "AUTHENTICITY NOT CHECKED" in out and "untampered" not in out


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path, capsys):
    path = tmp_path / "k" / "evidence.key"
    assert main(["keygen", str(path)]) == 0
    out = capsys.readouterr().out
    assert (path.stat().st_mode & 0o777) == 0o600
    assert path.with_name("evidence.key.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    from aircall_pipeline.evidence.signing import load_signer

    assert f"fingerprint: {load_signer(f'file:{path}').key_fingerprint}" in out
    assert "PRIVATE" not in out  # the key itself is never printed
    assert main(["keygen", str(path)]) == 2  # never over an existing key
    assert "already exists" in capsys.readouterr().err


def test_incomplete_day_and_empty_store(tmp_path, capsys):
    store = EvidenceStore.from_uri(tmp_path)
    store.write_table("users", D1, users_frame())  # tables, but the report never ran
    assert main(["verify", str(tmp_path), "--date", D1]) == 1
    assert "no manifest" in capsys.readouterr().out
    assert main(["verify", str(tmp_path)]) == 1
    assert "nothing has been sealed" in capsys.readouterr().out


def test_unreadable_evidence_exits_2(s3_env, capsys):
    assert main(["verify", "s3://no-such-bucket-for-verify/x", "--date", D1]) == 2
    captured = capsys.readouterr()
    assert "bucket no-such-bucket-for-verify does not exist" in captured.err
    assert "NOT VERIFIED" in captured.out
    assert main(["verify", "gs://elsewhere/x", "--date", D1]) == 2


def test_verify_on_s3_from_a_subprocess(s3_env, s3_bucket, s3_client, signer, key_pair):
    store = EvidenceStore.from_uri(f"s3://{s3_bucket}/prod", s3_client=s3_client)
    seal(store, D1, signer)
    proc = subprocess.run(
        [sys.executable, "-m", "aircall_pipeline.cli", "verify", f"s3://{s3_bucket}/prod", "--date", D1,
         "--public-key", key_pair[1]],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"VALID: complete and untampered, {2 * len(EVIDENCE_TABLES) + len(LISTED_REPORT_BASES)} files" in proc.stdout
    assert "testing" not in proc.stdout  # the dummy secret never printed
