"""One redactor: every place that shows a URL or sends text out goes through aircall_pipeline.redaction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from aircall_pipeline import redaction
from aircall_pipeline.redaction import REDACTED, known_secrets, redact_url, scrub, shown_url

PACKAGE = Path(redaction.__file__).parent


@pytest.mark.parametrize(
    ("url", "options", "expected"),
    [
        ("https://u:pw@api.example.com/v1?token=t#f", {}, "https://api.example.com/v1"),
        ("https://u:pw@api.example.com/v1?token=t#f", {"userinfo": "mask"}, "https://***@api.example.com/v1"),
        ("redis://u:pw@h:6379/0?password=p&db=1#x",
         {"userinfo": "mask_password", "query": "mask_secrets", "fragment": True},
         "redis://u:***@h:6379/0?password=***&db=1#x"),
        ("redis://h:6379/0?db=1", {"userinfo": "mask_password", "query": "mask_secrets"}, "redis://h:6379/0?db=1"),
        ("https://u:pw@Host.Example:9000/p?q=1#f", {"query": "keep", "fragment": True, "lower_host": True},
         "https://host.example:9000/p?q=1#f"),
        ("unix://:pw@/run/redis.sock", {"userinfo": "mask_password"}, "unix://:***@/run/redis.sock"),
    ],
)
def test_redact_url_removes_each_part_as_asked(url, options, expected):
    assert redact_url(url, **options) == expected


def test_a_url_with_nothing_to_remove_comes_back_unchanged():
    for url in ("https://api.aircall.io", "unix:///run/redis.sock", "sqlite:////var/lib/a.sqlite"):
        assert redact_url(url, query="keep", fragment=True) == url


def test_shown_url_never_shows_a_secret_and_says_when_not_a_url():
    assert shown_url("https://id:tok@api.aircall.io/v1/?api_token=x#y") == "https://api.aircall.io/v1/"
    assert shown_url("api.aircall.io") == "(not a URL)"


def test_scrub_removes_given_secrets_their_basic_header_and_credential_shapes():
    secrets = known_secrets([("my-id", "s3cr3t-token")])
    text = ("token s3cr3t-token, header bXktaWQ6czNjcjN0LXRva2Vu, AWS_SECRET_ACCESS_KEY=abc123, "
            "https://hooks.slack.com/services/T/B/xyz and https://u:p@host/x?X-Amz-Signature=1")
    out = scrub(text, secrets)
    for secret in ("s3cr3t-token", "bXktaWQ6czNjcjN0LXRva2Vu", "abc123", "T/B/xyz", "u:p", "X-Amz-Signature=1"):
        assert secret not in out
    assert out.count(REDACTED) >= 6
    assert scrub("basic authentication and bearer tokens") == "basic authentication and bearer tokens"


def _wrappers():
    from aircall_pipeline.aircall import budget
    from aircall_pipeline.config import settings
    from aircall_pipeline.evidence import layout, manifest, s3_errors
    from aircall_pipeline.ingest import normalize
    from aircall_pipeline.operations import alerts

    url = "https://u:pw@h.example/p"
    return {
        "settings": lambda: settings.shown_url(url),
        "limiter": lambda: budget.redact_url(url),
        "store uri": lambda: layout.redact_uri(url),
        "store endpoint": lambda: s3_errors._strip_userinfo(url),
        "manifest": lambda: manifest.strip_userinfo(url),
        "normaliser": lambda: normalize.url_destination(url),
    }, (lambda: alerts.scrub("text"))


def test_every_redacting_place_goes_through_the_one_redactor(monkeypatch):
    """Fails if any of them grows its own URL handling again: replacing the redactor changes them all."""
    wrappers, alert_scrub = _wrappers()
    before = {name: call() for name, call in wrappers.items()}
    monkeypatch.setattr(redaction, "urlsplit", lambda *_a, **_k: (_ for _ in ()).throw(LookupError("one")))
    for call in wrappers.values():
        with pytest.raises(LookupError):
            call()
    monkeypatch.undo()
    assert {name: call() for name, call in wrappers.items()} == before
    monkeypatch.setattr(redaction, "scrub", lambda text, secrets=(): "scrubbed by the one redactor")
    assert alert_scrub() == "scrubbed by the one redactor"


def test_no_other_module_rebuilds_a_url_by_hand():
    """urlunsplit (the way to rebuild a URL without its userinfo) is used by the redactor alone."""
    users = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "redaction.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name | ast.Attribute) and getattr(node, "id", getattr(node, "attr", "")) \
                    == "urlunsplit":
                users.append(str(path.relative_to(PACKAGE)))
    assert users == []
