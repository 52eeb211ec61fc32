"""`aircall-pipeline verify` against an adversary, on both backends (a local folder and moto's S3 server).

A genuine three-day signed chain (with an access review of the first day) is built once per module and
backend; each test attacks a fresh copy (local) or the shared bucket, restored afterwards (S3). Every
attack must end in exit 1 with a line naming the object, never a traceback, while the other days of the
range are still verified: each has its verdict, and the days the attack does not touch stay VALID.

The families: a keyless insider who can put objects; file kinds only a local folder has (FIFOs,
symlinks, directories); malformed JSON, re-signed with the real key so that only the schema catches it,
and unsigned; a holder of the signing key who rewrites history; and forged or misfiled access reviews.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pytest

from aircall_pipeline.cli import main
from aircall_pipeline.evidence.manifest import json_bytes
from aircall_pipeline.evidence.signing import load_signer, sign_manifest
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.evidence.verify import shown
from aircall_pipeline_tests.evidence.conftest import BIG_ID, users_frame
from aircall_pipeline_tests.evidence.days import seal_day
from aircall_pipeline_tests.evidence.test_manifest import CHECKS, fields
from aircall_pipeline_tests.fixtures.s3 import DUMMY_KEY_ID, DUMMY_SECRET, REGION

D1, D2, D3, D4 = "2026-03-13", "2026-03-14", "2026-03-15", "2026-03-16"
DAYS = (D1, D2, D3)


def sealed_at(day: str, hours: float = 2) -> datetime:
    """When the pipeline seals `day`: the next morning (UTC)."""
    return datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1, hours=hours)


def report(day: str, base: str = "manifest.json") -> str:
    return f"aircall/reports/date={day}/{base}"


def review(day: str, base: str = "manifest.json") -> str:
    return f"aircall/reviews/date={day}/{base}"


def users_csv(day: str) -> str:
    return f"aircall/users/date={day}/users.csv"


def sig(path: str) -> str:
    return path[: -len(".json")] + ".sig"


def seal(store: EvidenceStore, day: str, signer, *, at: datetime | None = None, checks=CHECKS,
         run_id: str = "run-1") -> Any:
    store.clock = lambda: at or sealed_at(day)
    return seal_day(store, day, tables={"users": users_frame()}, checks=checks, fields=fields(run_id),
                    signer=signer)


def build_chain(store: EvidenceStore, signer) -> None:
    for day in DAYS:
        seal(store, day, signer)
    manifest = store.backend.get(report(D1))
    store.clock = lambda: sealed_at(D1, hours=9)
    store.write_review(
        D1, pd.DataFrame({"user_id": pd.array([BIG_ID, BIG_ID + 1], dtype="int64"), "decision": ["keep", "remove"]}),
        {"kind": "aircall-access-review", "date": D1, "reviewer": "ciso@example.com",
         "reviewed_at": "2026-03-14T09:00:00Z",
         "snapshot": {"path": report(D1), "sha256": hashlib.sha256(manifest).hexdigest()},
         "users": 2, "keep": 1, "remove": 1, "removed_user_ids": [BIG_ID + 1]},
        signer)


# --------------------------------------------------------------------------------------------------
# The chain, on both backends


@dataclass
class Chain:
    store: EvidenceStore
    kind: str  # local | s3
    pub: str
    signer: Any

    def get(self, path: str) -> bytes:
        return self.store.backend.get(path)

    def json(self, path: str) -> dict[str, Any]:
        return json.loads(self.get(path))

    def put(self, path: str, data: bytes) -> None:
        """What a keyless insider with s3:PutObject (or write access to the folder) does: a new object."""
        assert self.store.backend.put_if_absent(path, data), f"{path} already exists"

    def overwrite(self, path: str, data: bytes | None) -> None:
        """Replace (or delete, data=None) an object behind the store's back."""
        backend = self.store.backend
        if self.kind == "s3":
            key = backend._key(path)
            if data is None:
                backend.client.delete_object(Bucket=backend.bucket, Key=key)
            else:
                backend.client.put_object(Bucket=backend.bucket, Key=key, Body=data)
            return
        target = backend._path(path)
        if os.path.lexists(target):
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        if data is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, 0o444)

    def resign(self, path: str, data: bytes) -> None:
        """What a holder of the signing key does: new bytes, and a valid signature over them."""
        self.overwrite(path, data)
        self.overwrite(sig(path), sign_manifest(self.signer, path, data).to_json())

    def local(self, path: str):
        assert self.kind == "local"
        return self.store.backend._path(path)


def _store_bytes(store: EvidenceStore) -> dict[str, bytes]:
    return {key: store.backend.get(key) for key in store.backend.list("aircall")}


@pytest.fixture(scope="module")
def module_signer(key_pair):
    return load_signer(f"file:{key_pair[0]}")


@pytest.fixture(scope="module")
def pristine_local(tmp_path_factory, module_signer):
    root = tmp_path_factory.mktemp("pristine") / "evidence"
    build_chain(EvidenceStore.from_uri(root), module_signer)
    return root


@pytest.fixture(scope="module")
def pristine_s3(s3_server, module_signer):
    client = boto3.session.Session().client("s3", endpoint_url=s3_server, region_name=REGION,
                                            aws_access_key_id=DUMMY_KEY_ID, aws_secret_access_key=DUMMY_SECRET)
    bucket = f"adversarial-{os.getpid()}-{datetime.now(UTC).strftime('%H%M%S%f')}"
    client.create_bucket(Bucket=bucket)
    store = EvidenceStore.from_uri(f"s3://{bucket}/audit", s3_client=client)
    build_chain(store, module_signer)
    return client, bucket, _store_bytes(store)


def _restore_s3(client, bucket: str, pristine: dict[str, bytes]) -> None:
    """Put the bucket back as it was built: extra objects deleted, changed or deleted ones rewritten."""
    seen = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="audit/"):
        for obj in page.get("Contents", []):
            seen[obj["Key"][len("audit/"):]] = obj["ETag"].strip('"')
    for key in seen.keys() - pristine.keys():
        client.delete_object(Bucket=bucket, Key=f"audit/{key}")
    for key, data in pristine.items():
        if seen.get(key) != hashlib.md5(data).hexdigest():  # noqa: S324 - S3's ETag, not security
            client.put_object(Bucket=bucket, Key=f"audit/{key}", Body=data)


def _local_chain(pristine_local, tmp_path, key_pair, module_signer) -> Chain:
    root = tmp_path / "evidence"
    shutil.copytree(pristine_local, root, symlinks=True)
    return Chain(EvidenceStore.from_uri(root), "local", key_pair[1], module_signer)


@pytest.fixture(params=["local", "s3"])
def chain(request, key_pair, module_signer, tmp_path) -> Iterator[Chain]:
    if request.param == "local":
        yield _local_chain(request.getfixturevalue("pristine_local"), tmp_path, key_pair, module_signer)
        return
    client, bucket, pristine = request.getfixturevalue("pristine_s3")
    request.getfixturevalue("s3_env")  # the CLI's own client reaches moto through the environment
    try:
        yield Chain(EvidenceStore.from_uri(f"s3://{bucket}/audit", s3_client=client), "s3", key_pair[1],
                    module_signer)
    finally:
        _restore_s3(client, bucket, pristine)


def on_backends(name: str, values: list, *, s3: list | None = None, ids: list[str] | None = None):
    """Parametrise `chain` and `name`: every value on a local folder, and those in `s3` (all by default)
    on the S3 server too, where each verification is some 200 HTTP requests."""
    ids = ids or [str(v) for v in values]
    params = [pytest.param("local", v, id=f"local-{i}") for v, i in zip(values, ids, strict=True)]
    params += [pytest.param("s3", v, id=f"s3-{i}") for v, i in zip(values, ids, strict=True) if s3 is None or v in s3]
    return pytest.mark.parametrize(("chain", name), params, indirect=["chain"])


LOCAL_ONLY = pytest.mark.parametrize("chain", ["local"], indirect=True)


@pytest.fixture
def local_chain(pristine_local, tmp_path, key_pair, module_signer) -> Chain:
    return _local_chain(pristine_local, tmp_path, key_pair, module_signer)


# --------------------------------------------------------------------------------------------------
# Running verify and reading its verdicts


def verify(chain: Chain, capsys, *extra: str, end: str = D3) -> tuple[int, str]:
    code = main(["verify", chain.store.uri, "--date", D1, "--to", end, "--public-key", chain.pub, *extra])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out


def verdicts(out: str) -> dict[str, str]:
    days, current = {}, None
    for line in out.splitlines():
        if line.startswith("date:     "):
            current = line.split()[1]
        elif line.startswith("verdict:  "):
            assert current is not None and current not in days, out
            days[current] = line[len("verdict:  "):]
    return days


def assert_caught(code: int, out: str, *names: str, bad: tuple[str, ...], days: tuple[str, ...] = DAYS) -> None:
    """Exit 1; each of `names` appears in the output; every day of the range has a verdict, VALID unless
    it is in `bad`; and nothing crashed."""
    assert code == 1, out
    for name in names:
        assert name in out, f"{name!r} not in:\n{out}"
    found = verdicts(out)
    assert sorted(found) == sorted(days), out
    for day in days:
        assert found[day].startswith("NOT VERIFIED" if day in bad else "VALID"), f"{day}: {found[day]}\n{out}"
    assert "INTERNAL ERROR" not in out, out
    assert "\x1b" not in out and "\r" not in out


def test_untouched_chain_is_valid(chain, capsys):
    code, out = verify(chain, capsys)
    assert code == 0, out
    assert sorted(verdicts(out)) == list(DAYS) and all(v.startswith("VALID") for v in verdicts(out).values())
    assert f"ok       {review(D1, 'attestation.json')}" in out and "3 of 3 days valid" in out


# --------------------------------------------------------------------------------------------------
# A keyless insider


def forged_attempt_2(chain: Chain, day: str) -> tuple[str, bytes]:
    """A copy of the day's manifest as its attempt 2, chained to attempt 1 as the pipeline would."""
    raw = chain.get(report(day))
    data = json.loads(raw)
    data.update(attempt=2, previous_attempt={"path": report(day), "sha256": hashlib.sha256(raw).hexdigest(),
                                             "bytes": len(raw), "attempt": 1, "signature": "valid"})
    return report(day, "manifest.attempt-2.json"), json_bytes(data)


def test_unsigned_manifest_planted_before_the_seal(chain, capsys):
    planted = json.loads(chain.get(report(D3)))
    planted.update(date=D4, previous_manifest=None, sealed_at="2026-03-17T01:00:00Z")
    chain.put(report(D4), json_bytes(planted))
    sealed = seal(chain.store, D4, chain.signer)
    assert sealed.path == report(D4, "manifest.attempt-2.json")
    assert [r["path"] for r in sealed.data["rejected"]] == [report(D4)]
    code, out = verify(chain, capsys, end=D4)
    assert_caught(code, out, f"FORGED {report(D4)}: it has no signature file", f"attempt {2} refused {report(D4)}",
                  bad=(D4,), days=(*DAYS, D4))


def test_forged_unsigned_attempt_2(chain, capsys):
    path, body = forged_attempt_2(chain, D2)
    chain.put(path, body)
    assert_caught(*verify(chain, capsys), f"FORGED {path}: it has no signature file", bad=(D2,))


def test_manifest_signed_by_another_key(chain, capsys, other_key_pair):
    path, body = forged_attempt_2(chain, D2)
    insider = load_signer(f"file:{other_key_pair[0]}")
    chain.put(path, body)
    chain.put(sig(path), sign_manifest(insider, path, body).to_json())
    assert_caught(*verify(chain, capsys), f"FORGED {path}", f"signed by another key ({insider.key_fingerprint})",
                  bad=(D2,))


@on_backends("garbage", [b"garbage\x00\xff", b"{}", b"", b'{"signature_version": 1}', b"[" * 100_000],
             s3=[b"garbage\x00\xff"], ids=["binary", "empty-object", "empty", "partial", "deep"])
def test_garbage_signature(chain, capsys, garbage):
    path, body = forged_attempt_2(chain, D2)
    chain.put(path, body)
    chain.put(sig(path), garbage)
    assert_caught(*verify(chain, capsys), f"FORGED {path}", bad=(D2,))


def test_garbage_over_a_genuine_signature(chain, capsys):
    chain.overwrite(sig(report(D3)), b"\x1b[2J not a signature")
    assert_caught(*verify(chain, capsys), f"FORGED {report(D3)}", bad=(D3,))


def test_signature_of_another_day_copied_beside_its_manifest(chain, capsys):
    """D1's genuine manifest and signature, byte for byte, as D3's attempt 2."""
    path = report(D3, "manifest.attempt-2.json")
    chain.put(path, chain.get(report(D1)))
    chain.put(sig(path), chain.get(sig(report(D1))))
    assert_caught(*verify(chain, capsys), f"FORGED {path}", bad=(D3,))


@on_backends("path", [
    f"aircall/users/date={D2}/sub/x.csv",  # a sub-folder of a day
    f"aircall/users/date={D2}/.hidden",  # a dot-file
    f"aircall/reports/date={D2}/.manifest.attempt-2.json",
    f"aircall/reports/date={D2}/sub/manifest.json",
    report(D2, "manifest.attempt-02.json"),  # non-canonical attempt names
    report(D2, "manifest.attempt-1.json"),
    report(D2, "manifest.attempt-1.json.bak"),
    report(D2, "manifest.json.bak"),
    review(D2, "attestation.json"),  # a review folder with no review manifest
    f"aircall/users/date={D2}/\x1b[2J\rverdict:  VALID \u202e.csv",  # a name that paints a verdict
], s3=[f"aircall/users/date={D2}/\x1b[2J\rverdict:  VALID \u202e.csv", f"aircall/users/date={D2}/sub/x.csv", f"aircall/users/date={D2}/.hidden", report(D2, "manifest.attempt-02.json"),
       report(D2, "manifest.attempt-1.json.bak")])
def test_extra_object_in_a_day(chain, capsys, path):
    chain.put(path, chain.get(report(D2)) if "manifest" in path else b"user_id,name\n1,Eve\n")
    assert_caught(*verify(chain, capsys), f"UNLISTED {shown(path)}", bad=(D2,))


@on_backends("path", [
    "aircall/users/notes.csv",  # under aircall/, outside any day
    "aircall/reports/manifest.json",
    "aircall/x",
    "aircall/users/date=2026-03-1\u0669/users.csv",  # an Arabic-Indic digit
    "aircall/users/date=2026-02-30/users.csv",  # no such day
    "aircall/users/date=2026-03-14x/users.csv",
], s3=["aircall/users/notes.csv", "aircall/users/date=2026-03-1\u0669/users.csv"])
def test_object_in_no_day(chain, capsys, path):
    chain.put(path, b"user_id,name\n1,Eve\n")
    code, out = verify(chain, capsys)
    assert_caught(code, out, "3 of 3 days valid (2026-03-13 .. 2026-03-15); 1 object(s) in no day", bad=())
    assert f"\nUNLISTED {path} is under aircall/ but in no day's folder" in out, out  # its own line


# --------------------------------------------------------------------------------------------------
# File kinds only a local folder has


def verify_in_subprocess(chain: Chain) -> tuple[int, str]:
    """The CLI in its own process, so that a verifier that blocks (on a FIFO) fails the test, not hangs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "aircall_pipeline.cli", "verify", chain.store.uri, "--date", D1, "--to", D3,
         "--public-key", chain.pub],
        capture_output=True, text=True, timeout=90, env=os.environ.copy(),
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("path", [report(D3), users_csv(D3), report(D3, "manifest.attempt-2.json"),
                                  sig(report(D3))])
def test_fifo(local_chain, path):
    chain = local_chain
    chain.overwrite(path, None)
    os.mkfifo(chain.local(path))
    code, out = verify_in_subprocess(chain)
    assert_caught(code, out, path, bad=(D3,))
    if path == users_csv(D3):
        assert f"ALTERED  {path}  (now a fifo, not a regular file: not opened)" in out


@pytest.mark.parametrize("path", [users_csv(D3), report(D3), report(D3, "checks.json")])
def test_symlink_to_dev_zero(local_chain, capsys, path):
    local_chain.overwrite(path, None)
    os.symlink("/dev/zero", local_chain.local(path))
    assert_caught(*verify(local_chain, capsys), path, bad=(D3,))


def test_directory_where_a_file_is_listed(local_chain, capsys):
    path = users_csv(D3)
    local_chain.overwrite(path, None)
    local_chain.local(path).mkdir()
    (local_chain.local(path) / "x.csv").write_bytes(b"1\n")
    assert_caught(*verify(local_chain, capsys), f"ALTERED  {path}", f"UNLISTED {path}/x.csv", bad=(D3,))


@pytest.mark.parametrize("folder", [f"aircall/users/date={D3}", f"aircall/reports/date={D3}"])
def test_symlinked_day_folder(local_chain, capsys, tmp_path, folder):
    real = local_chain.local(folder)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(real, elsewhere)
    for child in real.iterdir():
        os.chmod(child, 0o644)
    shutil.rmtree(real)
    os.symlink(elsewhere, real)
    assert_caught(*verify(local_chain, capsys), folder, bad=(D3,))


def test_symlinked_evidence_root_folder(local_chain, capsys, tmp_path):
    """aircall/users itself a symlink: every day's users files are then outside the evidence."""
    real = local_chain.local("aircall/users")
    elsewhere = tmp_path / "users-elsewhere"
    shutil.move(real, elsewhere)
    os.symlink(elsewhere, real)
    code, out = verify(local_chain, capsys)
    assert_caught(code, out, users_csv(D1), "UNLISTED aircall/users", bad=DAYS)


# --------------------------------------------------------------------------------------------------
# Malformed JSON in a manifest: re-signed with the real key (only the schema catches it), and unsigned

TOKEN = "@@TOKEN@@"


def _with(where: tuple, value: Any) -> Callable[[bytes], bytes]:
    """The manifest with the value at `where` replaced: by `value`, or by raw text when it is bytes."""
    def mutate(raw: bytes) -> bytes:
        data = json.loads(raw)
        target = data
        for step in where[:-1]:
            target = target[step]
        target[where[-1]] = TOKEN if isinstance(value, bytes) else value
        out = json_bytes(data)
        return out.replace(json.dumps(TOKEN).encode(), value) if isinstance(value, bytes) else out
    return mutate


def _artifact_path(make: Callable[[str], str]) -> Callable[[bytes], bytes]:
    def mutate(raw: bytes) -> bytes:
        data = json.loads(raw)
        data["artifacts"][0]["path"] = make(data["artifacts"][0]["path"])
        return json_bytes(data)
    return mutate


MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "duplicate key": lambda raw: raw.replace(b"{\n", b'{\n  "attempt": 1,\n', 1),
    "NaN": _with(("artifacts", 0, "bytes"), b"NaN"),
    "Infinity": _with(("artifacts", 0, "bytes"), b"-Infinity"),
    "1e999": _with(("artifacts", 0, "bytes"), b"1e999"),
    "huge integer": _with(("artifacts", 0, "bytes"), b"9" * 5000),
    "100,000 deep": _with(("company",), b"[" * 100_000 + b"]" * 100_000),
    "invalid UTF-8": _with(("company",), b'"\xff\xfe\xc3"'),
    "lone surrogate": _with(("company",), b'"\\ud800"'),
    "byte-order mark": lambda raw: b"\xef\xbb\xbf" + raw,
    "UTF-16": lambda raw: raw.decode().encode("utf-16"),
    "bytes as string": _with(("artifacts", 0, "bytes"), "123"),
    "negative bytes": _with(("artifacts", 0, "bytes"), -1),
    "float bytes": _with(("artifacts", 0, "bytes"), 1.5),
    "bool bytes": _with(("artifacts", 0, "bytes"), True),
    "reason as string": _with(("reason",), "first"),
    "signing as string": _with(("signing",), "signed"),
    "previous_manifest as string": _with(("previous_manifest",), report(D2)),
    "artifacts as object": _with(("artifacts",), {}),
    "extra key": _with(("trust_me",), True),
    "top-level list": lambda raw: b"[" + raw + b"]",
    "empty": lambda raw: b"",
    "truncated": lambda raw: raw[: len(raw) // 2],
    "path with NUL": _artifact_path(lambda p: p + "\x00"),
    "5,000-char path": _artifact_path(lambda p: p.rsplit("/", 1)[0] + "/" + "a" * 5000 + ".parquet"),
    "dot-dot segment": _artifact_path(lambda p: p.replace("aircall/", "aircall/../aircall/", 1)),
    "absolute path": _artifact_path(lambda p: "/" + p),
    "backslash path": _artifact_path(lambda p: p.replace("/", "\\")),
    "sealed_at with escapes": _with(("sealed_at",), "2026-03-16T02:00:00Z\x1b[2J\r\u202e"),
    "20 MiB": lambda raw: raw[:-1] + b" " * (20 << 20) + b"\n",
}


@pytest.mark.parametrize("signed", [True, False], ids=["re-signed", "unsigned"])
@on_backends("kind", sorted(MALFORMED), s3=["duplicate key", "1e999", "100,000 deep", "invalid UTF-8", "path with NUL",
                                           "20 MiB"])
def test_malformed_manifest(chain, capsys, kind, signed):
    raw = MALFORMED[kind](chain.get(report(D3)))
    if signed:
        path = report(D3)
        chain.resign(path, raw)
    else:
        path = report(D3, "manifest.attempt-2.json")
        chain.put(path, raw)
    code, out = verify(chain, capsys)
    assert_caught(code, out, f"MALFORMED {path}", f"attempt:  {1 if signed else 2} {path}", bad=(D3,))
    if signed:
        assert f"no genuine manifest for {D3}" in out


def test_artifact_path_that_is_a_directory(chain, capsys):
    """A well-formed path, re-signed, naming a day's folder rather than a file in it."""
    data = chain.json(report(D3))
    data["artifacts"].append({**data["artifacts"][0], "path": f"aircall/users/date={D3}"})
    chain.resign(report(D3), json_bytes(data))
    status = "ALTERED " if chain.kind == "local" else "MISSING "
    assert_caught(*verify(chain, capsys), f"{status} aircall/users/date={D3}  (", bad=(D3,))


INJECTION = "\x1b[2J\r\nverdict:  VALID: complete and untampered\u202e\x00\u2028\x85"


@pytest.mark.parametrize("signed", [True, False], ids=["re-signed", "unsigned"])
def test_control_characters_in_reason(chain, capsys, signed):
    data = chain.json(report(D2))
    data["reason"]["text"] = INJECTION
    data["run_id"] = INJECTION
    if signed:  # the key holder's rewrite of D2: D3's link to it no longer holds
        path = report(D2)
        chain.resign(path, json_bytes(data))
    else:
        path = report(D2, "manifest.attempt-2.json")
        chain.put(path, json_bytes(data))
    code, out = verify(chain, capsys)
    assert not any(ch in out for ch in "\x1b\r\u202e\x00\u2028\x85")
    assert sum(line.startswith("verdict:") for line in out.splitlines()) == 3
    assert "\\x1b[2J\\x0d\\x0averdict:  VALID" in out
    if signed:
        assert_caught(code, out, f"the previous day's manifest {path} changed after {D3} was sealed", bad=(D3,))
    else:
        assert_caught(code, out, f"FORGED {path}", bad=(D2,))


# --------------------------------------------------------------------------------------------------
# A holder of the signing key rewrites history


def rewrite(chain: Chain, day: str, change: Callable[[dict], None]) -> str:
    data = chain.json(report(day))
    change(data)
    chain.resign(report(day), json_bytes(data))
    return report(day)


def test_sealed_before_the_day_ended(chain, capsys):
    path = rewrite(chain, D3, lambda d: d.update(sealed_at=f"{D3}T05:00:00Z"))
    assert_caught(*verify(chain, capsys), f"{path} says it was sealed at {D3}T05:00:00Z, before {D3} ended",
                  bad=(D3,))


@LOCAL_ONLY
def test_reseal_back_dated_before_attempt_1(chain, capsys):
    sealed = seal(chain.store, D3, chain.signer, at=sealed_at(D3) - timedelta(minutes=30), run_id="run-2")
    assert sealed.data["attempt"] == 2
    assert_caught(*verify(chain, capsys), f"{sealed.path} says it was sealed at", "a re-seal was back-dated",
                  bad=(D3,))


@LOCAL_ONLY
def test_sealed_in_the_future(chain, capsys):
    sealed = seal(chain.store, D3, chain.signer, at=datetime.now(UTC) + timedelta(days=2), run_id="run-2")
    assert_caught(*verify(chain, capsys), f"{sealed.path} says it was sealed at", "in the future", bad=(D3,))


def test_reseal_of_a_day_and_the_next_so_the_newest_links_agree(chain, capsys):
    d2 = seal(chain.store, D2, chain.signer, at=sealed_at(D3, hours=3), run_id="run-2")
    d3 = seal(chain.store, D3, chain.signer, at=sealed_at(D3, hours=4), run_id="run-2")
    assert d3.data["previous_manifest"]["path"] == d2.path  # the newest attempts agree
    assert_caught(*verify(chain, capsys), f"{d2.path} (sealed {d2.data['sealed_at']}) superseded {report(D2)} after "
                  f"{D3} was sealed", bad=(D2,))


def test_check_summary_pass_while_checks_json_fails(chain, capsys):
    def flip(data: dict) -> None:
        for check in data["checks"]:
            if check["id"] == "AC-05":
                check["status"] = "pass"
    path = rewrite(chain, D3, flip)
    assert_caught(*verify(chain, capsys), f"{path} summarises the checks differently from {report(D3, 'checks.json')} "
                  "(for AC-05)", bad=(D3,))


def test_manifest_listing_no_tables_and_no_checks(chain, capsys):
    path = rewrite(chain, D3, lambda d: d.update(artifacts=[], checks=[]))
    assert_caught(*verify(chain, capsys), f"{path} lists no company, users", "lists 0 checks.json, 0 report.html",
                  f"UNLISTED {users_csv(D3)}", bad=(D3,))


@LOCAL_ONLY
def test_reseal_that_changes_a_check_result(chain, capsys):
    passing = [{**c, "status": "pass", "items": []} if c["id"] == "AC-05" else c for c in CHECKS]
    sealed = seal(chain.store, D3, chain.signer, at=sealed_at(D3, hours=3), checks=passing, run_id="run-2")
    code, out = verify(chain, capsys)
    assert code == 0, out
    assert "re-seal:  attempt 2 (" in out and "AC-05 fail → pass" in out
    code, out = verify(chain, capsys, "--strict")
    assert_caught(code, out, "--strict: attempt 2", "AC-05 fail → pass", "a re-seal changed a check's result",
                  bad=(D3,))
    assert sealed.path in out


# --------------------------------------------------------------------------------------------------
# Access reviews

REVIEW_FILES = ("review.parquet", "review.csv", "attestation.json", "attestation.sig", "manifest.sig",
                "manifest.json")


def test_review_copied_under_another_day(chain, capsys):
    for base in REVIEW_FILES:
        chain.put(review(D2, base), chain.get(review(D1, base)))
    assert_caught(*verify(chain, capsys), f"FORGED {review(D2)}", bad=(D2,))


def test_review_re_signed_under_another_day(chain, capsys):
    """A key holder files D1's review under D2, every path and signature made right: the attestation
    still reviews D1's manifest."""
    data = chain.json(review(D1))
    for artifact in data["artifacts"]:
        artifact["path"] = artifact["path"].replace(f"date={D1}", f"date={D2}")
    data["date"] = D2
    for base in ("review.parquet", "review.csv", "attestation.json"):
        chain.put(review(D2, base), chain.get(review(D1, base)))
    attestation = chain.get(review(D1, "attestation.json"))
    chain.put(review(D2, "attestation.sig"),
              sign_manifest(chain.signer, review(D2, "attestation.json"), attestation).to_json())
    chain.resign(review(D2), json_bytes(data))
    assert_caught(*verify(chain, capsys), f"{review(D2, 'attestation.json')} reviews {report(D1)} of {D1}, which is "
                  f"not a genuine manifest of {D2}", bad=(D2,))


def test_forged_review_export(chain, capsys):
    """An unsigned review manifest and attestation, as if imported without the signing key."""
    data = chain.json(review(D1))
    for artifact in data["artifacts"]:
        artifact["path"] = artifact["path"].replace(f"date={D1}", f"date={D3}")
    data["date"] = D3
    for base in ("review.parquet", "review.csv", "attestation.json"):
        chain.put(review(D3, base), chain.get(review(D1, base)))
    chain.put(review(D3), json_bytes(data))
    assert_caught(*verify(chain, capsys), f"FORGED {review(D3)}: it has no signature file", bad=(D3,))


def test_forged_attestation_under_a_genuine_review(chain, capsys):
    """A changed attestation (a removed user kept), re-listed by a forged unsigned review attempt 2."""
    att = chain.json(review(D1, "attestation.json"))
    att.update(keep=2, remove=0, removed_user_ids=[])
    body = json_bytes(att)
    chain.put(review(D1, "attestation.attempt-2.json"), body)
    data = chain.json(review(D1))
    raw = chain.get(review(D1))
    data["attempt"] = 2
    data["previous_attempt"] = {"path": review(D1), "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw),
                                "attempt": 1}
    data["artifacts"] = [a if not a["path"].endswith("attestation.json") else
                         {**a, "path": review(D1, "attestation.attempt-2.json"),
                          "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
                         for a in data["artifacts"]]
    chain.put(review(D1, "manifest.attempt-2.json"), json_bytes(data))
    assert_caught(*verify(chain, capsys), f"FORGED {review(D1, 'manifest.attempt-2.json')}",
                  f"UNLISTED {review(D1, 'attestation.attempt-2.json')}", bad=(D1,))


def test_the_pristine_chain_is_restored(chain, capsys):
    """After every attack above, the shared bucket is back as built (the restore itself is checked)."""
    code, out = verify(chain, capsys)
    assert code == 0, out
    assert sorted(verdicts(out)) == list(DAYS) and all(v.startswith("VALID") for v in verdicts(out).values())
