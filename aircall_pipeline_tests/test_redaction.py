"""The one URL redactor (aircall_pipeline/redaction.py), on every kind of URL its callers pass it."""

from __future__ import annotations

import pytest

from aircall_pipeline.redaction import redact_url, redact_urls_in, url_destination


@pytest.mark.parametrize("url, shown", [
    # The default (messages): scheme, host and path; userinfo, query and fragment go.
    ("https://user:pw-SECRET@api.aircall.io/v1?x=1#f", "https://api.aircall.io/v1"),
    ("https://user-SECRET@api.aircall.io", "https://api.aircall.io"),
    ("https://:pw-SECRET@api.aircall.io", "https://api.aircall.io"),
    ("http://127.0.0.1:8000/tsr?key=SECRET", "http://127.0.0.1:8000/tsr"),
    ("http://a:SECRET@[::1]:9000/bucket", "http://[::1]:9000/bucket"),
    ("s3://key:SECRET@bucket/prefix", "s3://bucket/prefix"),
    ("redis://:SECRET@redis:6379/0", "redis://redis:6379/0"),
    # No "://": read as host/path, never as a URL of scheme "user" whose path holds the password.
    ("user:SECRET@api.aircall.io/v1", "api.aircall.io/v1"),
    ("api.aircall.io", "api.aircall.io"),
    ("/var/lib/evidence", "/var/lib/evidence"),
    ("http://[unbalanced/x", "***"),
    ("", ""),
    (None, ""),
])
def test_the_default_keeps_scheme_host_and_path(url, shown):
    assert redact_url(url) == shown


def test_a_url_without_a_secret_is_returned_as_it_is():
    for url in ("https://API.aircall.io/v1/calls?page=2#top", "unix:///run/redis.sock", "sqlite:////var/x.sqlite",
                "memory://", "HTTPS://Example.COM"):
        assert redact_url(url, query="keep") is url
    assert redact_url("https://api.aircall.io/v1/calls?page=2", query="mask_values") == (
        "https://api.aircall.io/v1/calls?page=2")


@pytest.mark.parametrize("url, shown", [
    ("redis://:SECRET@redis:6379/0", "redis://:***@redis:6379/0"),
    ("redis://app:SECRET@redis:6379/0", "redis://app:***@redis:6379/0"),
    ("redis://app@redis:6379/0", "redis://app@redis:6379/0"),  # a username alone is no secret
    ("unix:///run/redis.sock?db=0&Password=SECRET#f", "unix:///run/redis.sock?db=0&Password=***#f"),
    ("rediss://r/0?pass%77ord=SECRET&pwd=SECRET&token=SECRET&ssl=1", "rediss://r/0?pass%77ord=***&pwd=***&token=***&ssl=1"),
])
def test_mask_password_keeps_the_username_and_masks_secret_query_values(url, shown):
    assert redact_url(url, userinfo="mask_password", query="mask_values") == shown


def test_mask_shows_that_credentials_were_there():
    assert redact_url("s3://key:SECRET@bucket/x", userinfo="mask", query="mask_values") == "s3://***@bucket/x"
    assert redact_url("s3://bucket/x?a=1&secret=SECRET", userinfo="mask", query="mask_values") == (
        "s3://bucket/x?a=1&secret=***")
    assert redact_url("https://u:p@h/x", userinfo="mask", query="keep", mask="[redacted]") == "https://[redacted]@h/x"


def test_mask_whole_replaces_a_signed_query():
    signed = "https://b.s3.amazonaws.com/r/1.mp3?X-Amz-Date=1&X-Amz-Signature=SECRET"
    assert redact_url(signed, query="mask_whole") == "https://b.s3.amazonaws.com/r/1.mp3?***"
    plain = "https://api.aircall.io/v1/calls?page=2&per_page=50"
    assert redact_url(plain, query="mask_whole") is plain


def test_a_manifest_keeps_a_harmless_query_and_loses_the_credential():
    assert redact_url("https://id:token@api.aircall.io/x?page=1#f", query="mask_values") == (
        "https://api.aircall.io/x?page=1#f")


def test_urls_inside_text():
    text = ("creds https://user:SECRET1@minio.local:9000/bucket, signed https://e.com/f?sig=SECRET2&sp=r "
            "slack https://hooks.slack.com/services/T1/B2/SECRET3 mattermost https://chat.e.com/hooks/SECRET4 "
            "bad http://[unbalanced/SECRET5 keeps https://api.aircall.io/v1/calls?page=2 and prose user:x@y")
    out = redact_urls_in(text, mask="[redacted]")
    for secret in ("SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5"):
        assert secret not in out
    assert "creds https://[redacted]@minio.local:9000/bucket," in out
    assert "https://e.com/f?[redacted]" in out
    assert "https://hooks.slack.com/[redacted]" in out
    assert "https://chat.e.com/hooks/[redacted]" in out
    assert "bad [redacted] keeps https://api.aircall.io/v1/calls?page=2 and prose user:x@y" in out
    assert redact_urls_in("") == ""
    assert redact_urls_in("no URL here") == "no URL here"


def test_webhook_paths_are_masked_only_when_asked():
    assert redact_url("s3://bucket/hooks/prefix") == "s3://bucket/hooks/prefix"
    assert redact_url("s3://bucket/hooks/prefix", webhook_paths=True) == "s3://bucket/hooks/***"


@pytest.mark.parametrize("url, expected", [
    ("https://user:pw@Hooks.Example.COM:8443/p/SECRET?key=SECRET#f", ("https", "hooks.example.com")),
    ("s3://key:secret@bucket/x", ("s3", "bucket")),
    ("redis://:pw@Redis:6379/0", ("redis", "redis")),
    ("user:SECRET@hooks.example.com:99/x?next=https://other", (None, "hooks.example.com")),
    ("http://[unbalanced/x", (None, None)),
    (None, (None, None)),
])
def test_url_destination(url, expected):
    assert url_destination(url) == expected


def test_callers_never_repeat_a_credential_in_their_messages():
    from aircall_pipeline.evidence.errors import EvidenceStoreError
    from aircall_pipeline.evidence.layout import parse_evidence_uri
    from aircall_pipeline.settings import SettingsError, validate_api_url

    with pytest.raises(EvidenceStoreError) as raised:
        parse_evidence_uri("file://user:SECRET@host/x")
    assert "SECRET" not in str(raised.value) and "***@host" in str(raised.value)
    # Without "://" the old reading took "id" for a scheme and showed the token as the URL's path.
    with pytest.raises(SettingsError) as refused:
        validate_api_url("id:SECRET@api.aircall.io")
    assert "SECRET" not in str(refused.value) and "api.aircall.io" in str(refused.value)
