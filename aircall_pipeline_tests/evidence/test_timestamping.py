"""Proof of time (evidence/timestamping.py) against a real TSA: `openssl ts -reply` behind HTTP on
loopback (fixtures/tsa.py). Tokens are stamped, then checked offline with and without trusted roots."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from aircall_pipeline.config.settings import TSA_URL_VAR, SettingsError, evidence_tsa_urls, parse_tsa_urls
from aircall_pipeline.evidence.signing import statement
from aircall_pipeline.evidence.timestamping import (
    MAX_TOKEN_BYTES,
    TIME_SLACK,
    TimestampError,
    TokenCheck,
    check_token,
    read_trusted_roots,
    sealed_at_within,
    stamp,
    token_path,
)

STATEMENT = statement("aircall/reports/date=2026-03-13/manifest.json", 1234, "ab" * 32)
OTHER_STATEMENT = statement("aircall/reports/date=2026-03-13/manifest.attempt-2.json", 1234, "ab" * 32)


@pytest.fixture(scope="module")
def token(local_tsa) -> bytes:
    return stamp(STATEMENT, [local_tsa.url])


@pytest.fixture(scope="module")
def ca(local_tsa) -> bytes:
    return Path(local_tsa.ca_pem_path).read_bytes()


def test_token_path_sits_beside_each_attempt():
    assert token_path("aircall/reports/date=2026-03-13/manifest.json") == "aircall/reports/date=2026-03-13/manifest.tsr"
    assert token_path("r/manifest.attempt-2.json") == "r/manifest.attempt-2.tsr"
    with pytest.raises(TimestampError):
        token_path("r/manifest.sig")


def test_a_stamped_statement_checks_as_trusted_under_the_tsa_ca(token, ca):
    before = datetime.now(UTC)
    check = check_token(token, STATEMENT, trusted_roots=[ca])
    assert check.trusted
    assert "trusted test TSA" in check.tsa
    assert check.gen_time.tzinfo is not None and check.gen_time.utcoffset() == timedelta(0)
    # The token was made moments ago by this machine's TSA; its time is today's, not a constant.
    assert abs(check.gen_time - before) < timedelta(hours=1)


def test_without_roots_or_with_another_root_the_token_is_genuine_but_not_trusted(token, local_tsa):
    unrooted = check_token(token, STATEMENT)
    other = check_token(token, STATEMENT, trusted_roots=[Path(local_tsa.other_ca_pem_path).read_bytes()])
    assert not unrooted.trusted and not other.trusted
    assert unrooted.gen_time == other.gen_time and "trusted test TSA" in other.tsa
    assert "EVIDENCE_TSA_CA" in unrooted.detail and "does not chain" in other.detail


def test_a_tsa_under_another_ca_is_not_trusted(local_tsa, ca):
    token = stamp(STATEMENT, [local_tsa.untrusted_url])
    assert not check_token(token, STATEMENT, trusted_roots=[ca]).trusted
    assert check_token(token, STATEMENT, trusted_roots=[Path(local_tsa.other_ca_pem_path).read_bytes()]).trusted


def test_a_token_does_not_prove_another_statement(token, ca):
    with pytest.raises(TimestampError, match="another statement"):
        check_token(token, OTHER_STATEMENT, trusted_roots=[ca])


def test_a_token_over_sha512_is_refused(local_tsa):
    query = TimestampRequestBuilder().data(STATEMENT).hash_algorithm(HashAlgorithm.SHA512).build()
    answer = requests.post(local_tsa.url, data=query.as_bytes(), timeout=10,
                           headers={"Content-Type": "application/timestamp-query"}).content
    with pytest.raises(TimestampError, match="not SHA-256"):
        check_token(answer, STATEMENT)


def test_a_rejected_request_proves_no_time(local_tsa, tmp_path):
    # The local TSA accepts SHA-2 digests only: openssl itself answers a SHA-1 query with a rejection.
    query = tmp_path / "sha1.tsq"
    subprocess.run(["openssl", "ts", "-query", "-sha1", "-digest", "11" * 20, "-cert", "-out", str(query)],
                   check=True, capture_output=True, timeout=30)
    answer = requests.post(local_tsa.url, data=query.read_bytes(), timeout=10,
                           headers={"Content-Type": "application/timestamp-query"}).content
    with pytest.raises(TimestampError, match="did not grant"):
        check_token(answer, STATEMENT)


def test_trusted_roots_are_read_from_a_pem_file(token, local_tsa, tmp_path):
    roots = read_trusted_roots(local_tsa.ca_pem_path)
    assert check_token(token, STATEMENT, trusted_roots=roots).trusted
    (tmp_path / "not-a-cert.pem").write_text("hello\n")
    for unusable in (tmp_path / "missing.pem", tmp_path, tmp_path / "not-a-cert.pem"):
        with pytest.raises(TimestampError, match="EVIDENCE_TSA_CA"):
            read_trusted_roots(unusable)


def _flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize("damage", [
    "empty", "garbage", "truncated", "one byte short", "trailing byte", "oversized", "signature flipped",
    "imprint flipped", "not bytes",
])
def test_malformed_tokens_raise_timestamp_error_only(token, ca, damage):
    imprint_at = token.find(hashlib.sha256(STATEMENT).digest())
    assert imprint_at > 0
    data = {
        "empty": b"",
        "garbage": b"\x30\x82\xff\xff not DER at all",
        "truncated": token[: len(token) // 2],
        "one byte short": token[:-1],
        "trailing byte": token + b"\x00",
        "oversized": token + b"\x00" * MAX_TOKEN_BYTES,
        "signature flipped": _flip(token, len(token) - 3),  # inside the SignerInfo's signature, last field
        "imprint flipped": _flip(token, imprint_at),  # the signed TSTInfo changed under its signature
        "not bytes": "a string",
    }[damage]
    for roots in (None, [ca]):
        with pytest.raises(TimestampError):
            check_token(data, STATEMENT, trusted_roots=roots)


def test_unusable_roots_are_a_timestamp_error(token):
    with pytest.raises(TimestampError, match="EVIDENCE_TSA_CA"):
        check_token(token, STATEMENT, trusted_roots=[b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"])


def test_a_dead_tsa_falls_back_to_the_next(local_tsa, ca):
    before = local_tsa.requests_to(local_tsa.url)
    token = stamp(STATEMENT, [local_tsa.dead_url, local_tsa.garbage_url, local_tsa.url], timeout=5)
    assert check_token(token, STATEMENT, trusted_roots=[ca]).trusted
    assert local_tsa.requests_to(local_tsa.url) == before + 1


def test_the_first_good_tsa_is_the_only_one_asked(local_tsa):
    before = local_tsa.requests_to(local_tsa.untrusted_url)
    stamp(STATEMENT, [local_tsa.url, local_tsa.untrusted_url])
    assert local_tsa.requests_to(local_tsa.untrusted_url) == before


@pytest.mark.parametrize("bad", ["dead_url", "garbage_url", "huge_url", "replay_url"])
def test_when_every_tsa_fails_the_error_names_each(local_tsa, bad):
    url = getattr(local_tsa, bad)
    with pytest.raises(TimestampError) as raised:
        stamp(STATEMENT, [url, local_tsa.dead_url], timeout=5)
    message = str(raised.value)
    assert url in message and local_tsa.dead_url in message and TSA_URL_VAR in message


def test_a_failing_url_is_named_without_its_credentials(local_tsa):
    secret_url = local_tsa.dead_url.replace("http://", "http://auditor:hunter2@") + "?key=hunter3"
    with pytest.raises(TimestampError) as raised:
        stamp(STATEMENT, [secret_url], timeout=5)
    assert local_tsa.dead_url in str(raised.value)
    assert "hunter2" not in str(raised.value) and "hunter3" not in str(raised.value)


def test_no_tsa_configured_is_an_error():
    with pytest.raises(TimestampError, match=TSA_URL_VAR):
        stamp(STATEMENT, [])


def _check_at(gen_time: datetime) -> TokenCheck:
    return TokenCheck(gen_time=gen_time, tsa="CN=tsa", trusted=True, detail="", serial_number=1, nonce=None)


def test_sealed_at_within_the_slack_either_way_is_fine():
    sealed = datetime(2026, 3, 14, 2, 20, tzinfo=UTC)
    for gap in (timedelta(0), TIME_SLACK, -TIME_SLACK, timedelta(seconds=3)):
        assert sealed_at_within(sealed, _check_at(sealed + gap)) is None


def test_sealed_at_outside_the_slack_is_reported_in_its_direction():
    sealed = datetime(2026, 3, 14, 2, 20, tzinfo=UTC)
    late_token = sealed_at_within(sealed, _check_at(sealed + TIME_SLACK + timedelta(seconds=1)))
    early_token = sealed_at_within(sealed, _check_at(sealed - TIME_SLACK - timedelta(seconds=1)))
    assert late_token and "before the TSA's time" in late_token
    assert early_token and "after the TSA's time" in early_token
    # A wider slack accepts what the default refuses; a sealed_at in another zone is the same instant.
    assert sealed_at_within(sealed, _check_at(sealed + timedelta(hours=1)), slack=timedelta(hours=2)) is None
    paris = sealed.astimezone(ZoneInfo("Europe/Paris"))
    assert sealed_at_within(paris, _check_at(sealed)) is None


def test_sealed_at_against_a_real_token(token):
    check = check_token(token, STATEMENT)
    assert sealed_at_within(check.gen_time - timedelta(seconds=2), check) is None
    assert sealed_at_within(check.gen_time - timedelta(days=1), check) is not None


def test_tsa_urls_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(TSA_URL_VAR, " https://tsa.example/tsr,http://127.0.0.1:8080/ts  https://b.example ")
    assert evidence_tsa_urls() == ["https://tsa.example/tsr", "http://127.0.0.1:8080/ts", "https://b.example"]
    monkeypatch.delenv(TSA_URL_VAR)
    assert evidence_tsa_urls() == []


@pytest.mark.parametrize("raw", ["http://tsa.example/tsr", "ftp://tsa.example", "tsa.example", "https://[::1"])
def test_unusable_tsa_urls_are_refused(raw):
    with pytest.raises(SettingsError, match=TSA_URL_VAR):
        parse_tsa_urls(f"https://good.example {raw}")


def test_tsa_url_credentials_are_refused_without_being_repeated():
    with pytest.raises(SettingsError) as raised:
        parse_tsa_urls("https://auditor:hunter2@tsa.example/tsr")
    assert "tsa.example" in str(raised.value) and "hunter2" not in str(raised.value)
