"""Re-performance of sealed days (AT-C 205): the daily job against the sandbox seals a day with a
roles file, a roster, a policy, an earlier day of calls and users, and a signed access review; then
`reperform_day` and `verify --reperform` recompute every check from that evidence alone, and catch a
hand-edited checks.json re-signed with the evidence key, and sealed inputs edited afterwards."""

from __future__ import annotations

import hashlib
import json
import shutil
import unicodedata
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from aircall_pipeline.cli import main
from aircall_pipeline.compliance.reperform import (
    CANNOT,
    DIFFERS,
    NOT_REPERFORMABLE,
    SAME,
    CheckReperformance,
    ReperformResult,
    escape_controls,
    reperform_day,
)
from aircall_pipeline.config.policy import CompliancePolicy
from aircall_pipeline.config.settings import Settings
from aircall_pipeline.definitions import build_assets, build_resources
from aircall_pipeline.evidence.layout import signature_path
from aircall_pipeline.evidence.manifest import check_summary, json_bytes
from aircall_pipeline.evidence.signing import TrustedKey, load_signer, sign_manifest
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.names import OWNER_TABLES
from aircall_pipeline.sandbox.data import SandboxAccount
from aircall_pipeline.sandbox.server import SandboxServer
from aircall_pipeline_tests.compliance.test_review import fill
from aircall_pipeline_tests.evidence.conftest import users_frame
from aircall_pipeline_tests.fixtures.sandbox import deployment_env
from aircall_pipeline_tests.partitions import pk
from aircall_pipeline_tests.test_daily_job import API_ID, TOKEN, YESTERDAY, root_cause, run_day

EARLIER = (date.fromisoformat(YESTERDAY) - timedelta(days=1)).isoformat()
EVERY_CHECK_BUT_AC15 = {"AC-01", "AC-02", "AC-03", "AC-04", "AC-05", "AC-06", "AC-07", "AC-08", "AC-09", "AC-10",
                        "AC-11", "AC-14", "AC-16"}


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """One sealed day shared by the tests of this module (each run of the job takes seconds, and the
    tests that tamper work on a copy): the day has an earlier day of calls (a backfill) and of users
    (one user fewer, so AC-07 sees a joiner), and a signed access review of its first attempt."""
    account = SandboxAccount(seed=11, calls=300, days=3)
    folder = tmp_path_factory.mktemp("reperform")
    # The make_sandbox fixture is per test; this module seals its day once, with the same server.
    server = SandboxServer(account, api_id=API_ID, api_token=TOKEN, rate_limit=600, window_seconds=6).start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            env = deployment_env(server, account, folder, api_id=API_ID, api_token=TOKEN)
            for name, value in env.items():
                mp.setenv(name, value)
            with dg.instance_for_test() as instance:
                first = run_day(instance=instance)
                assert first.success, root_cause(first)
                store = EvidenceStore.from_uri(env["EVIDENCE_URI"])
                users = store.read_table("users", YESTERDAY)
                store.write_table("users", EARLIER, users.iloc[1:].reset_index(drop=True))
                backfill = dg.materialize(build_assets(Settings.from_env()),
                                          selection=[dg.AssetKey(["aircall", "calls"]),
                                                     dg.AssetKey(["aircall", "call_windows"])],
                                          partition_key=pk(EARLIER), resources=build_resources(Settings.from_env()),
                                          instance=instance)
                assert backfill.success
                review = folder / "review.csv"
                assert main(["review", "export", env["EVIDENCE_URI"], "--date", YESTERDAY, "--out", str(review)]) == 0
                review.write_bytes(fill(review.read_bytes(), dict.fromkeys(users["user_id"].astype(int), "keep")))
                assert main(["review", "import", env["EVIDENCE_URI"], "--date", YESTERDAY, str(review),
                             "--reviewer", "auditee@example.com"]) == 0
                second = run_day(instance=instance)
                assert second.success, root_cause(second)
        yield env
    finally:
        server.stop()


def trusted_of(env: dict[str, str]) -> TrustedKey:
    return TrustedKey.from_pem_file(env["EVIDENCE_PUBLIC_KEY"])


def copy_of(env: dict[str, str], tmp_path: Path) -> Path:
    """A copy of the sealed evidence to tamper with (published files are read-only: make them writable)."""
    root = tmp_path / "evidence"
    shutil.copytree(env["EVIDENCE_URI"], root)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def manifest_of(root: Path | str) -> tuple[Path, dict]:
    reports = Path(root) / "aircall" / "reports" / f"date={YESTERDAY}"
    newest = max(reports.glob("manifest*.json"), key=lambda p: int((p.stem.split("attempt-") + ["1"])[1]))
    return newest, json.loads(newest.read_text())


def checks_of(root: Path | str, manifest: dict) -> tuple[Path, list[dict]]:
    path = next(a["path"] for a in manifest["artifacts"] if a["path"].split("/")[-1].startswith("checks"))
    return Path(root) / path, json.loads((Path(root) / path).read_text())


def listed(manifest: dict, table: str) -> dict:
    artifact = next(a for a in manifest["artifacts"] if a["path"].startswith(f"aircall/{table}/")
                    and a["path"].endswith(".parquet"))
    return {"path": artifact["path"], "sha256": artifact["sha256"]}


def verify(root: Path | str, env: dict[str, str], *extra: str) -> int:
    return main(["verify", str(root), "--date", YESTERDAY, "--public-key", env["EVIDENCE_PUBLIC_KEY"], *extra])


def test_a_sealed_day_reperforms_as_recorded(sealed, capsys):
    store = EvidenceStore.from_uri(sealed["EVIDENCE_URI"])
    manifest = store.read_manifest(YESTERDAY).data
    result = reperform_day(store, YESTERDAY, manifest, trusted=trusted_of(sealed))
    states = {c.check_id: c.state for c in result.checks}
    assert result.ok, result.lines()
    assert {cid for cid, state in states.items() if state == SAME} == EVERY_CHECK_BUT_AC15
    assert states["AC-15"] == NOT_REPERFORMABLE
    # Not vacuous: the owner files are configured, and the history-reading checks read real history.
    checks = {c["id"]: c for c in checks_of(sealed["EVIDENCE_URI"], manifest)[1]}
    assert {checks[c]["status"] for c in ("AC-02", "AC-03", "AC-04")} <= {"pass", "fail", "warn"}
    assert checks["AC-07"]["observed"] == 1 and checks["AC-16"]["status"] == "pass"  # one joiner; reviewed
    assert [(e["table"], e["date"]) for e in checks["AC-06"]["history"]["tables"]] == [("calls", EARLIER),
                                                                                      ("calls", YESTERDAY)]
    assert [e["date"] for e in checks["AC-07"]["history"]["tables"]] == [EARLIER]
    assert checks["AC-16"]["history"]["reviews"][0]["signature"] == "valid"

    assert verify(sealed["EVIDENCE_URI"], sealed, "--reperform") == 0
    out = capsys.readouterr().out
    assert "reperform: verdict: REPRODUCED" in out and "reperform: not re-performable AC-15" in out


def test_owner_inputs_are_sealed_tables_that_the_checks_judged(sealed):
    store = EvidenceStore.from_uri(sealed["EVIDENCE_URI"])
    manifest = store.read_manifest(YESTERDAY).data
    paths = {a["path"] for a in manifest["artifacts"]}
    for table in OWNER_TABLES:
        assert {Path(p).suffix for p in paths if p.startswith(f"aircall/{table}/date={YESTERDAY}/")} == {".parquet",
                                                                                                       ".csv"}
    checks = {c["id"]: c for c in checks_of(sealed["EVIDENCE_URI"], manifest)[1]}
    for check_id, owner_table in (("AC-02", "owner_roles"), ("AC-03", "owner_roster"), ("AC-04", "owner_roster")):
        assert checks[check_id]["judged"][owner_table] == listed(manifest, owner_table)
    assert all(c["judged"]["owner_policy"] == listed(manifest, "owner_policy") for c in checks.values())

    # The auditor matches each sealed owner file with the owner's copy by its hash...
    index = store.read_table("owner_policy", YESTERDAY).set_index("input")
    for name, variable in (("roles", "AIRCALL_ROLES_URI"), ("roster", "AIRCALL_ROSTER_URI"),
                           ("policy", "AIRCALL_POLICY_FILE")):
        data = Path(sealed[variable]).read_bytes()
        assert index.loc[name, "sha256"] == hashlib.sha256(data).hexdigest()
        assert index.loc[name, "bytes"] == len(data)
    # ...and the sealed policy is the one in force: the owner's file with the environment's files.
    expected = replace(CompliancePolicy.from_file(sealed["AIRCALL_POLICY_FILE"]),
                       roles_uri=sealed["AIRCALL_ROLES_URI"], roster_uri=sealed["AIRCALL_ROSTER_URI"])
    assert CompliancePolicy.from_dict(json.loads(index.loc["policy", "policy_json"])) == expected
    assert len(store.read_table("owner_roster", YESTERDAY)) == index.loc["roster", "rows"] > 0


def forge(root: Path, key: str, edit) -> str:
    """What an insider holding the evidence key does: edit checks.json, fix the manifest's hashes and
    summary, and sign the manifest again. Returns what `edit` returns."""
    manifest_path, manifest = manifest_of(root)
    checks_path, checks = checks_of(root, manifest)
    said = edit({c["id"]: c for c in checks})
    data = json_bytes(checks)
    checks_path.write_bytes(data)
    artifact = next(a for a in manifest["artifacts"] if root / a["path"] == checks_path)
    artifact.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    manifest["checks"] = [check_summary(c) for c in checks]
    raw = json_bytes(manifest)
    manifest_path.write_bytes(raw)
    relative = manifest_path.relative_to(root).as_posix()
    signature = sign_manifest(load_signer(f"file:{key}"), relative, raw)
    (root / signature_path(relative)).write_bytes(signature.to_json())
    return said


def flip_ac05(checks: dict) -> str:
    """A shared mailbox finding made to disappear; the expected report line."""
    assert checks["AC-05"]["status"] == "fail"
    checks["AC-05"]["status"] = "pass"
    return "reperform: DIFFERS  AC-05: recorded pass, re-performed fail"


def change_ac02_observed(checks: dict) -> str:
    """One admin more than there are; the expected report line."""
    status, observed = checks["AC-02"]["status"], checks["AC-02"]["observed"]
    checks["AC-02"]["observed"] = observed + 1
    return f"reperform: DIFFERS  AC-02: recorded {status}, re-performed {status} (observed {observed + 1} vs {observed})"


@pytest.mark.parametrize("edit", [flip_ac05, change_ac02_observed])
def test_a_hand_edited_checks_json_signed_again_is_caught_by_reperform(sealed, tmp_path, capsys, edit):
    root = copy_of(sealed, tmp_path)
    expected = forge(root, sealed["EVIDENCE_SIGNING_KEY"].removeprefix("file:"), edit)
    assert verify(root, sealed) == 0  # hashes and signature hold: only re-performance can tell
    capsys.readouterr()
    assert verify(root, sealed, "--reperform") == 1
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("reperform: DIFFERS")] == [expected]
    assert "reperform: verdict: RECORDED RESULTS DIFFER" in out


def test_a_sealed_owner_file_edited_afterwards_is_reported(sealed, tmp_path, capsys):
    root = copy_of(sealed, tmp_path)
    manifest = manifest_of(root)[1]
    roster = root / listed(manifest, "owner_roster")["path"]
    frame = pd.read_parquet(roster)
    frame["status"] = "active"  # nobody has left: the offboarding finding would disappear
    frame.to_parquet(roster, index=False)

    store = EvidenceStore.from_uri(root)
    result = reperform_day(store, YESTERDAY, manifest, trusted=trusted_of(sealed))
    states = {c.check_id: c for c in result.checks}
    assert not result.ok
    for check_id in ("AC-03", "AC-04"):
        assert states[check_id].state == CANNOT
        assert "owner_roster" in states[check_id].detail and "changed after sealing" in states[check_id].detail
    assert states["AC-02"].state == SAME

    assert verify(root, sealed, "--reperform") == 1
    out = capsys.readouterr().out
    assert "ALTERED" in out and "reperform: CANNOT RE-PERFORM AC-03" in out and "Traceback" not in out


def test_an_earlier_day_read_by_a_check_and_changed_afterwards_is_reported(sealed, tmp_path):
    root = copy_of(sealed, tmp_path)
    manifest = manifest_of(root)[1]
    checks = {c["id"]: c for c in checks_of(root, manifest)[1]}
    earlier = next(e for e in checks["AC-06"]["history"]["tables"] if e["date"] == EARLIER)
    calls = root / earlier["path"]
    calls.write_bytes(calls.read_bytes() + b"\0")

    result = reperform_day(EvidenceStore.from_uri(root), YESTERDAY, manifest, trusted=trusted_of(sealed))
    states = {c.check_id: c for c in result.checks}
    assert states["AC-06"].state == CANNOT and earlier["path"] in states["AC-06"].detail
    assert states["AC-07"].state == SAME and states["AC-10"].state == SAME  # the day's own calls are intact


def test_a_record_without_what_reperformance_needs_fails_rather_than_passes(sealed, tmp_path):
    # Dropping a check's evaluated_at must not be a way to escape re-performance.
    root = copy_of(sealed, tmp_path)
    forge(root, sealed["EVIDENCE_SIGNING_KEY"].removeprefix("file:"), lambda checks: checks["AC-05"].pop("evaluated_at"))
    result = reperform_day(EvidenceStore.from_uri(root), YESTERDAY, manifest_of(root)[1], trusted=trusted_of(sealed))
    states = {c.check_id: c for c in result.checks}
    assert states["AC-05"].state == CANNOT and "evaluated_at" in states["AC-05"].detail
    assert not result.ok and DIFFERS not in {c.state for c in result.checks}


# ---- hostile evidence, without a sealed day ------------------------------------------------------


def test_control_characters_in_evidence_are_escaped():
    assert escape_controls("a\x1b[2Jb\u202ec\nd\U000e0001") == "a\\x1b[2Jb\\u202ec\\x0ad\\U000e0001"
    result = ReperformResult("2026-03-14", [CheckReperformance("AC-05\x1b]0;pwned\x07", DIFFERS, "x\ry")])
    assert all(unicodedata.category(ch)[0] != "C" for line in result.lines() for ch in line)
    assert "AC-05\\x1b]0;pwned\\x07: x\\x0dy" in "\n".join(result.lines())


def _checks_json(store: EvidenceStore, day: str, content: bytes) -> dict:
    path = f"aircall/reports/date={day}/checks.json"
    store.backend.put_if_absent(path, content)
    return {"path": path, "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}


@pytest.mark.parametrize("manifest", [
    "not a manifest",
    {"date": "2026-03-14", "artifacts": "nonsense"},
    {"date": "2026-03-14", "artifacts": [5, {"path": "../../etc/passwd", "sha256": "0" * 64}]},
    {"date": "2026-03-14", "artifacts": [{"path": "aircall/reports/date=2026-03-14/checks.json", "sha256": "0" * 64}]},
    {"date": "2026-03-13", "artifacts": []},
], ids=["string", "artifacts-not-a-list", "escaping-path", "checks-altered", "other-day"])
def test_malformed_manifests_are_problems_never_exceptions(local_store, manifest):
    result = reperform_day(local_store, "2026-03-14", manifest)
    assert result.problems and not result.ok
    assert all(line.startswith("reperform: ") for line in result.lines())


@pytest.mark.parametrize("content", [b"{not json", b'{"id": "AC-01"}', b'[{"id": "AC-05", "status": "pass", "window": 7}]',
                                     b'[{"id": "AC-99", "status": "pass"}]'])
def test_hostile_checks_json_fails_reperformance_without_raising(local_store, content):
    day = "2026-03-14"
    manifest = {"date": day, "artifacts": [_checks_json(local_store, day, content)]}
    result = reperform_day(local_store, day, manifest)
    assert not result.ok
    assert SAME not in {c.state for c in result.checks}


def test_history_must_name_the_table_and_day_it_claims(local_store):
    from aircall_pipeline.compliance.reperform import NotReperformable, SealedHistory

    users = local_store.write_table("users", "2026-03-13", users_frame())[0]
    teams = local_store.write_table("teams", "2026-03-13", users_frame())[0]
    entry = {"table": "users", "date": "2026-03-13"}
    history = SealedHistory(local_store, {"tables": [{**entry, "path": users.path, "sha256": users.sha256}]})
    assert history.dates("users") == ["2026-03-13"] and len(history.read_table("users", "2026-03-13")) == 2
    forged = SealedHistory(local_store, {"tables": [{**entry, "path": teams.path, "sha256": teams.sha256}]})
    with pytest.raises(NotReperformable, match="not that table's file"):
        forged.read_table("users", "2026-03-13")
    with pytest.raises(NotReperformable, match="no `history`"):
        SealedHistory(local_store, None).dates("users")
