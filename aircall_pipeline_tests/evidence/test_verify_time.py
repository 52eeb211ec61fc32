"""Proof of time through sealing and `verify`: days sealed with a real TSA (`openssl ts` on loopback,
fixtures/tsa.py) and verified with `aircall-pipeline verify`, then attacked the ways a holder of the
signing key or of write access to the evidence can (back-dating, deleting, damaging or swapping
tokens, a token from an untrusted TSA)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aircall_pipeline.cli import main
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
from aircall_pipeline.evidence.timestamping import NOT_ATTESTED, timestamper
from aircall_pipeline.evidence.verify import verify_range
from aircall_pipeline_tests.evidence.conftest import users_frame
from aircall_pipeline_tests.evidence.days import seal_day
from aircall_pipeline_tests.evidence.test_manifest import CHECKS, fields, tamper

D1, D2 = "2026-03-13", "2026-03-14"
MANIFEST = f"aircall/reports/date={D1}/manifest.json"
TOKEN = f"aircall/reports/date={D1}/manifest.tsr"


def seal(store: EvidenceStore, day: str, signer, urls: list[str] | None, run_id: str = "run-1"):
    return seal_day(store, day, tables={"users": users_frame()}, checks=CHECKS, fields=fields(run_id),
                    signer=signer, timestamper=timestamper(urls) if urls else None)


def verify(store: EvidenceStore, key_pair, *extra: str, day: str = D1) -> int:
    return main(["verify", store.uri, "--date", day, "--public-key", key_pair[1], *extra])


def lines(printed: str, prefix: str) -> list[str]:
    return [line for line in printed.splitlines() if line.startswith(prefix)]


def test_a_stamped_day_verifies_and_its_time_names_the_tsa(store, signer, key_pair, local_tsa, capsys):
    before = local_tsa.requests_to(local_tsa.url)
    manifest = seal(store, D1, signer, [local_tsa.url])
    assert local_tsa.requests_to(local_tsa.url) == before + 1
    assert manifest.data["signing"]["timestamp_file"] == "manifest.tsr"
    assert store.backend.head(TOKEN)  # beside the manifest

    assert verify(store, key_pair, "--tsa-ca", local_tsa.ca_pem_path) == 0
    printed = capsys.readouterr().out
    assert lines(printed, "verdict:")[0].startswith("verdict:  VALID")
    (time,) = lines(printed, "time:")
    assert "attested by TSA" in time and "trusted test TSA" in time and "chains to a trusted TSA root" in time
    assert "UNLISTED" not in printed  # the token is accounted for, never an unlisted object

    # Without trusted roots the day is still valid, and says the token's chain was not checked.
    assert verify(store, key_pair) == 0
    printed = capsys.readouterr().out
    assert "chain not checked against a trusted root" in lines(printed, "time:")[0]
    assert any("not checked against a trusted TSA root" in n for n in lines(printed, "note:"))


def test_a_reseal_asks_the_tsa_once_and_every_attempt_is_checked(local_store, signer, key_pair, local_tsa,
                                                                  capsys):
    seal(local_store, D1, signer, [local_tsa.url])
    before = local_tsa.requests_to(local_tsa.url)
    again = seal(local_store, D1, signer, [local_tsa.url], run_id="run-2")
    assert again.attempt == 2
    assert local_tsa.requests_to(local_tsa.url) == before + 1  # not a second one for the comparison
    tamper(local_store, TOKEN, None)  # attempt 1's token, not the newest's
    assert verify(local_store, key_pair) == 1
    assert f"problem:  TOKEN MISSING {TOKEN}" in capsys.readouterr().out


def test_a_back_dated_reseal_with_a_genuine_token_is_caught(local_store, signer, key_pair, local_tsa, capsys):
    # The key holder seals the day with a clock two hours behind: signed, and stamped by the real TSA
    # now. Every signature is valid; only the token says when the statement existed.
    back_dated = EvidenceStore(local_store.backend, clock=lambda: datetime.now(UTC) - timedelta(hours=2))
    seal(back_dated, D1, signer, [local_tsa.url])
    assert verify(local_store, key_pair, "--tsa-ca", local_tsa.ca_pem_path) == 1
    printed = capsys.readouterr().out
    (problem,) = [p for p in lines(printed, "problem:") if "BACK-DATED" in p]
    assert MANIFEST in problem and "before the TSA's time" in problem and "slack 5 min" in problem
    assert "signature valid" in printed  # the signature alone would have passed


def test_a_deleted_token_is_caught(store, signer, key_pair, local_tsa, capsys):
    seal(store, D1, signer, [local_tsa.url])
    tamper(store, TOKEN, None)
    assert verify(store, key_pair) == 1
    printed = capsys.readouterr().out
    assert f"problem:  TOKEN MISSING {TOKEN}: {MANIFEST} says it was time-stamped" in printed
    assert "NOT ATTESTED: the timestamp token is missing" in lines(printed, "time:")[0]


@pytest.mark.parametrize("garbage", [b"not a token", b"\x30\x03\x02\x01\x00", b"\x30" + b"\xff" * 64])
def test_a_garbage_token_is_malformed_without_a_traceback(local_store, signer, key_pair, local_tsa, capsys,
                                                          garbage):
    seal(local_store, D1, signer, [local_tsa.url])
    tamper(local_store, TOKEN, garbage)
    assert verify(local_store, key_pair) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err and "INTERNAL ERROR" not in captured.out
    assert lines(captured.out, f"problem:  MALFORMED {TOKEN}: ")


def test_a_token_from_a_tsa_under_another_ca_is_forged_when_roots_are_given(local_store, signer, key_pair,
                                                                            local_tsa, capsys):
    seal(local_store, D1, signer, [local_tsa.untrusted_url])
    assert verify(local_store, key_pair, "--tsa-ca", local_tsa.ca_pem_path) == 1
    printed = capsys.readouterr().out
    assert lines(printed, f"problem:  FORGED {TOKEN}: ") and "does not chain to a trusted TSA root" in printed
    # The roots of the CA that did issue that TSA's certificate vouch for it.
    assert verify(local_store, key_pair, "--tsa-ca", local_tsa.other_ca_pem_path) == 0


def test_tokens_swapped_between_two_days_are_forged(local_store, signer, key_pair, local_tsa, capsys):
    seal(local_store, D1, signer, [local_tsa.url])
    seal(local_store, D2, signer, [local_tsa.url])
    other = TOKEN.replace(D1, D2)
    first, second = local_store.backend.get(TOKEN), local_store.backend.get(other)
    tamper(local_store, TOKEN, second)
    tamper(local_store, other, first)
    assert verify(local_store, key_pair, "--tsa-ca", local_tsa.ca_pem_path) == 1
    assert lines(capsys.readouterr().out, f"problem:  FORGED {TOKEN}: the token is for another statement")
    assert verify(local_store, key_pair, "--tsa-ca", local_tsa.ca_pem_path, day=D2) == 1
    assert lines(capsys.readouterr().out, f"problem:  FORGED {other}: the token is for another statement")


def test_without_a_tsa_the_time_is_not_attested(local_store, signer, key_pair, local_tsa, trusted, capsys):
    manifest = seal(local_store, D1, signer, None)
    assert "timestamp_file" not in manifest.data["signing"]
    day = verify_range(local_store, D1, None, trusted).days[0]
    assert day.authenticated and day.time.startswith(NOT_ATTESTED)
    assert verify(local_store, key_pair) == 0
    assert NOT_ATTESTED in capsys.readouterr().out
    # An auditor who gives trusted TSA roots asks for proof of time, as scripts/check-signature.sh does.
    assert verify(local_store, key_pair, "--tsa-ca", local_tsa.ca_pem_path) == 1
    assert lines(capsys.readouterr().out, f"problem:  UNSTAMPED {MANIFEST}")


def test_unusable_tsa_roots_are_a_usage_error(local_store, signer, key_pair, tmp_path, capsys):
    seal(local_store, D1, signer, None)
    not_pem = tmp_path / "roots.pem"
    not_pem.write_bytes(b"not a certificate")
    assert verify(local_store, key_pair, "--tsa-ca", str(not_pem)) == 2
    assert "not a PEM or DER certificate" in capsys.readouterr().err


def test_sealing_with_a_dead_tsa_fails_and_writes_nothing_of_the_attempt(store, signer, local_tsa):
    secret_url = local_tsa.dead_url + "?key=s3cret-tsa"
    with pytest.raises(EvidenceStoreError) as info:
        seal(store, D1, signer, [secret_url, local_tsa.garbage_url])
    message = str(info.value)
    assert info.value.kind == "timestamp"
    assert f"the {D1} report was not sealed" in message and local_tsa.dead_url in message
    assert local_tsa.garbage_url in message and "s3cret" not in message
    assert store.read_manifest(D1) is None
    assert store.backend.list(f"aircall/reports/date={D1}") == []  # no checks, report or signature either


def test_a_stamped_review_verifies_and_its_deleted_token_is_caught(local_store, signer, key_pair, local_tsa,
                                                                   capsys):
    from aircall_pipeline.compliance.review import attestation, load_snapshot, parse_review, validate_review
    from aircall_pipeline_tests.compliance.test_review import DAY, exported, fill, seal_review_day

    seal_review_day(local_store, signer)
    snapshot = load_snapshot(local_store, DAY)
    completed = validate_review(parse_review(fill(exported(local_store), {101: "keep", 102: "keep", 103: "keep"})),
                                snapshot)
    manifest = local_store.write_review(DAY, completed, attestation(snapshot, completed, "ciso@example.com"),
                                        signer, timestamper=timestamper([local_tsa.url]))
    assert manifest.data["signing"]["timestamp_file"] == "manifest.tsr"
    review_token = f"aircall/reviews/date={DAY}/manifest.tsr"
    assert verify(local_store, key_pair, "--tsa-ca", local_tsa.ca_pem_path, day=DAY) == 1  # the report: unstamped
    printed = capsys.readouterr().out
    assert "UNLISTED" not in printed and review_token not in printed
    assert verify(local_store, key_pair, day=DAY) == 0
    capsys.readouterr()
    tamper(local_store, review_token, None)
    assert verify(local_store, key_pair, day=DAY) == 1
    assert f"problem:  TOKEN MISSING {review_token}" in capsys.readouterr().out
