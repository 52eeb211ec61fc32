"""Alert sinks and the redaction pass, against real HTTP receivers on loopback."""

import base64
import logging
import socket

import pytest

from aircall_pipeline.config.settings import SettingsError, parse_min_severity
from aircall_pipeline.operations.alerts import (
    Alert,
    AlertSettings,
    SlackSink,
    WebhookSink,
    alert_settings,
    configured_sinks,
    run_url,
    scrub,
    send_alert,
)
from aircall_pipeline_tests.operations.jobs import API_ID, BASIC, SECRET_TOKEN


def _alert(text: str = "The key was rejected.", **details) -> Alert:
    return Alert(title="Aircall evidence run failed", severity="critical", kind="auth", text=text,
                 run_id="r-1", run_url=run_url("r-1"), details=details)


def test_scrub_removes_token_basic_headers_signed_urls_and_slack_tokens(alert_env, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value-123")
    text = (
        f"token={SECRET_TOKEN}; header Authorization: Basic {BASIC}; raw {BASIC}; "
        "recording https://aircall-recordings.s3.amazonaws.com/r/1.mp3?X-Amz-Signature=abc123&X-Amz-Expires=600 "
        "presigned https://example.com/file?sig=deadbeef&sp=r; creds https://user:pa55@minio.local:9000/bucket "
        "slack xoxb-1234-5678-abcdefgh; jwt Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig; aws aws-secret-value-123 "
        "keeps https://api.aircall.io/v1/calls?page=2&per_page=50 and AIRCALL_API_TOKEN by name"
    )
    out = scrub(text)
    for secret in (SECRET_TOKEN, BASIC, "abc123", "deadbeef", "pa55", "xoxb-1234", "eyJhbGci", "aws-secret-value"):
        assert secret not in out, secret
    assert "https://aircall-recordings.s3.amazonaws.com/r/1.mp3?[redacted]" in out
    assert "https://[redacted]@minio.local:9000/bucket" in out
    assert "https://api.aircall.io/v1/calls?page=2&per_page=50" in out  # nothing secret: untouched
    assert "AIRCALL_API_TOKEN by name" in out


@pytest.mark.parametrize("leak, secret", [
    ("env: AIRCALL_API_TOKEN=tok-abc-12345 AIRCALL_API_ID=ac-1", "tok-abc-12345"),
    ('config {"api_id": "ac-1", "api_token": "tok abc 12345"}', "tok abc 12345"),
    ("retrying with token=opaque1234 after a 401", "opaque1234"),
    ("login failed for admin password=hunter2-x", "hunter2-x"),
    ("db password: correct-horse", "correct-horse"),
    ("posted to https://hooks.slack.com/services/T0001/B0002/XXXXsecretXXXX failed", "XXXXsecretXXXX"),
    ("posted to https://hooks.slack.com/workflows/T1/A1/123/SeCrEt42 failed", "SeCrEt42"),
    ("mattermost https://chat.example.com/hooks/abc123secret refused", "abc123secret"),
    ("socket mode token xapp-1-A0123456789-1234567890-abcdef", "xapp-1-A0123456789"),
    ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "wJalrXUtnFEMI"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "wJalrXUtnFEMI"),
    ("X-Api-Key: k-998877", "k-998877"),
])
def test_scrub_catches_named_secrets_webhook_paths_and_app_tokens(alert_env, leak, secret):
    out = scrub(leak)
    assert secret not in out and "[redacted]" in out


@pytest.mark.parametrize("prose", [
    "The Aircall API uses basic authentication with the api_id and api_token.",
    "HTTP Basic Authentication failed; bearer tokens are not supported.",
    "keeps AIRCALL_API_TOKEN by name, and partition_key=2026-03-09 and https://hooks.example.com/status",
])
def test_scrub_leaves_prose_about_credentials_alone(alert_env, prose):
    assert scrub(prose) == prose


def test_scrub_catches_a_basic_header_built_from_the_current_credentials(alert_env):
    header_value = base64.b64encode(f"{API_ID}:{SECRET_TOKEN}".encode()).decode()
    assert header_value not in scrub(f"echoed {header_value} back")


def test_no_sink_configured_is_not_an_error(alert_env, caplog):
    assert configured_sinks() == []
    log = logging.getLogger("test-alerts")
    with caplog.at_level(logging.INFO, logger="test-alerts"):
        outcome = send_alert(_alert(f"leak {SECRET_TOKEN}"), log=log)
    assert outcome == {"log": "sent"}
    assert "ALERT auth" in caplog.text and "Run: http://127.0.0.1:3999/runs/r-1" in caplog.text
    assert SECRET_TOKEN not in caplog.text


def test_webhook_payload_and_retry_on_5xx(webhook):
    webhook.statuses = [503, 502]
    outcome = send_alert(_alert(f"secret {SECRET_TOKEN}", partition="2026-03-09"),
                         sinks=[WebhookSink(webhook.url + "/x", backoff_seconds=0.01)])
    assert outcome["webhook"] == "sent"
    assert len(webhook.received) == 3  # two failures, then delivered
    payload = webhook.payloads[-1]
    assert payload["title"] == "Aircall evidence run failed"
    assert payload["kind"] == "auth" and payload["severity"] == "critical"
    assert payload["run_url"] == "http://127.0.0.1:3999/runs/r-1"
    assert payload["details"] == {"partition": "2026-03-09"}
    assert payload["text"].startswith("[CRITICAL] Aircall evidence run failed")  # Slack-webhook compatible
    assert SECRET_TOKEN not in webhook.raw
    assert webhook.received[0].headers["Content-Type"] == "application/json"


def test_webhook_gives_up_after_bounded_attempts_and_on_4xx(webhook, caplog):
    webhook.statuses = [500, 500, 500, 500]
    sink = WebhookSink(webhook.url + "/hook?token=s3cr3t-webhook", attempts=3, backoff_seconds=0.01)
    with caplog.at_level(logging.ERROR):
        outcome = send_alert(_alert(), sinks=[sink], log=logging.getLogger("t"))
    assert outcome["webhook"].startswith("failed: webhook http://127.0.0.1:")
    assert len(webhook.received) == 3
    assert "s3cr3t-webhook" not in caplog.text and "s3cr3t-webhook" not in outcome["webhook"]

    webhook.received.clear()
    webhook.statuses = [404]
    outcome = send_alert(_alert(), sinks=[WebhookSink(webhook.url, attempts=3, backoff_seconds=0.01)])
    assert "HTTP 404" in outcome["webhook"] and len(webhook.received) == 1


def test_unreachable_webhook_times_out_without_raising(alert_env):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = send_alert(_alert(), sinks=[WebhookSink(f"http://127.0.0.1:{port}/", timeout=1, attempts=2,
                                                      backoff_seconds=0.01)])
    assert outcome["webhook"].startswith("failed:") and "ConnectionError" in outcome["webhook"]


def test_slack_sink_posts_with_the_token_read_at_send_time(fake_slack, monkeypatch):
    sink = SlackSink("#grc-alerts", base_url=fake_slack.url + "/api/")
    outcome = send_alert(_alert(), sinks=[sink])
    assert outcome["slack"].startswith("failed:") and "ALERT_SLACK_TOKEN" in outcome["slack"]

    monkeypatch.setenv("ALERT_SLACK_TOKEN", "xoxb-test-7777-abcdef")  # set after the sink was built
    outcome = send_alert(_alert(f"with {SECRET_TOKEN}"), sinks=[sink])
    assert outcome["slack"] == "sent"
    [request] = fake_slack.received
    assert request.path == "/api/chat.postMessage"
    assert request.headers["Authorization"] == "Bearer xoxb-test-7777-abcdef"
    body = request.json
    assert body["channel"] == "#grc-alerts"
    assert body["text"].startswith("[CRITICAL] Aircall evidence run failed")
    assert "<http://127.0.0.1:3999/runs/r-1|Run>" in body["text"]  # our own link syntax
    assert SECRET_TOKEN not in request.body.decode()


def test_slack_api_error_is_reported_not_raised(fake_slack, monkeypatch, caplog):
    fake_slack.response_body = b'{"ok": false, "error": "channel_not_found"}'
    monkeypatch.setenv("ALERT_SLACK_TOKEN", "xoxb-test-7777-abcdef")
    with caplog.at_level(logging.ERROR):
        outcome = send_alert(_alert(), sinks=[SlackSink("#nope", base_url=fake_slack.url + "/api/")],
                             log=logging.getLogger("t"))
    assert outcome["slack"] == "failed: Slack refused the message: channel_not_found"
    assert "xoxb-test-7777" not in caplog.text


def test_configured_sinks_follow_the_environment(alert_env, monkeypatch):
    monkeypatch.setenv("ALERT_SLACK_TOKEN", "xoxb-1")
    assert configured_sinks() == []  # a token without a channel is not a sink
    monkeypatch.setenv("ALERT_SLACK_CHANNEL", "#grc")
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://hooks.example.com/x")
    assert [s.name for s in configured_sinks()] == ["slack", "webhook"]
    # An unusable AIRCALL_API_URL must not silence the alert about it.
    monkeypatch.setenv("AIRCALL_API_URL", "http://api.aircall.io")
    assert [s.name for s in configured_sinks()] == ["slack", "webhook"]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        Alert(title="t", severity="error", kind="mystery", text="")  # type: ignore[arg-type]


HOSTILE_TEAM = "<!channel> key expired, sign in again at <https://evil.invalid/login|app.aircall.io>"


def _hostile_alert() -> Alert:
    return Alert(title=f"AC-08 warn for team {HOSTILE_TEAM}", severity="warning", kind="check_failed",
                 text=f"Empty team: {HOSTILE_TEAM} & <@U123> <#C42>", run_id="r-1", run_url=run_url("r-1"),
                 details={"items": [HOSTILE_TEAM]},
                 links=(("Report", "http://127.0.0.1:3999/assets/aircall/evidence_report?a=1&b=2"),))


def test_slack_text_escapes_values_from_the_data_but_keeps_our_links(fake_slack, monkeypatch):
    monkeypatch.setenv("ALERT_SLACK_TOKEN", "xoxb-test-7777-abcdef")
    outcome = send_alert(_hostile_alert(), sinks=[SlackSink("#grc", base_url=fake_slack.url + "/api/")])
    assert outcome["slack"] == "sent"
    text = fake_slack.received[0].json["text"]
    for raw in ("<!channel>", "<https://", "<@U123>", "<#C42>"):
        assert raw not in text
    assert "&lt;!channel&gt; key expired" in text and " &amp; " in text
    assert "<http://127.0.0.1:3999/runs/r-1|Run>" in text
    assert "<http://127.0.0.1:3999/assets/aircall/evidence_report?a=1&amp;b=2|Report>" in text


def test_webhook_payload_escapes_every_readable_field(webhook):
    send_alert(_hostile_alert(), sinks=[WebhookSink(webhook.url)])
    payload = webhook.payloads[0]
    assert "<!channel>" not in webhook.raw and "<https://" not in webhook.raw
    assert payload["title"].startswith("AC-08 warn for team &lt;!channel&gt;")
    assert payload["details"]["items"] == [HOSTILE_TEAM.replace("<", "&lt;").replace(">", "&gt;")]
    assert payload["links"] == {"Report": "http://127.0.0.1:3999/assets/aircall/evidence_report?a=1&b=2"}
    assert "<http://127.0.0.1:3999/runs/r-1|Run>" in payload["text"]


def test_the_log_shows_the_values_as_they_are(alert_env, caplog):
    log = logging.getLogger("test-alerts")
    with caplog.at_level(logging.INFO, logger="test-alerts"):
        send_alert(_hostile_alert(), log=log, sinks=[])
    assert HOSTILE_TEAM in caplog.text  # the Dagster log renders no mrkdwn: nothing to escape


def test_min_severity_per_sink(webhook, fake_slack, monkeypatch):
    monkeypatch.setenv("ALERT_SLACK_TOKEN", "xoxb-test-7777-abcdef")
    sinks = [SlackSink("#grc", base_url=fake_slack.url + "/api/"), WebhookSink(webhook.url)]
    settings = AlertSettings(None, True, None, "http://127.0.0.1:3999",
                             min_severity=parse_min_severity("warning,slack:error"))
    warning = send_alert(_hostile_alert(), sinks=sinks, settings=settings)
    assert warning["log"] == "sent" and warning["webhook"] == "sent"
    assert warning["slack"].startswith("skipped:") and fake_slack.received == []
    info = Alert(title="AC-02 skip reminder", severity="info", kind="check_failed", text="")
    assert send_alert(info, sinks=sinks, settings=settings)["webhook"].startswith("skipped:")
    assert send_alert(_alert(), sinks=sinks, settings=settings) == {"log": "sent", "slack": "sent", "webhook": "sent"}


def test_min_severity_is_read_from_the_environment(alert_env, monkeypatch):
    assert alert_settings().min_severity == {}  # default: every severity
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "Error")
    assert alert_settings().min_severity == {"*": "error"}
    assert parse_min_severity("slack:critical, webhook:info") == {"slack": "critical", "webhook": "info"}
    for bad in ("loud", "email:error", "slack:"):
        with pytest.raises(SettingsError):
            parse_min_severity(bad)
    # A typo must not silence alerts: the alert path then sends everything.
    monkeypatch.setenv("ALERT_MIN_SEVERITY", "eror")
    assert alert_settings().min_severity == {}
