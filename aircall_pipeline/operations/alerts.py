"""Alerts: what went wrong, in words a GRC engineer acts on, delivered to every configured sink.

Sinks:
- the Dagster log, always (a sensor's log is shown with its tick in the UI);
- Slack, when ALERT_SLACK_TOKEN and ALERT_SLACK_CHANNEL are set (chat.postMessage through
  slack_sdk's WebClient). The token is read from the environment at send time,
  only inside `SlackSink.send`, and never logged;
- a generic JSON webhook, when ALERT_WEBHOOK_URL is set (POST, a timeout, a few bounded retries:
  urllib3's Retry on a requests Session).
  The payload also has a Slack-compatible `text` field, so a Slack/Teams/Mattermost incoming webhook
  URL works as-is.

No sink configured is not an error: alerts then live in the Dagster log only. A sink that fails is
logged and skipped; it never fails the sensor that raised the alert, and never stops the other sinks.
ALERT_MIN_SEVERITY keeps alerts below a severity away from Slack and/or the webhook (never from the log).

Alert texts carry values from the API and the owner's files (user and team names, emails, error
messages). Slack and the webhook receive them mrkdwn-escaped (`&`, `<`, `>` as entities), so a
team named `<!channel> sign in at <https://evil.invalid|app.aircall.io>` pings nobody and shows no
disguised link; only the links built here (`mrkdwn_link`) use Slack's `<url|label>` syntax.

Every alert passes a final redaction pass (`scrub`) before it leaves the process: the current
AIRCALL_API_TOKEN value (and the Basic header built from it), Slack/AWS secrets, Authorization
headers, credentials in URLs and signed-URL query strings are replaced by `[redacted]`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util import Retry

from aircall_pipeline import redaction
from aircall_pipeline.config.settings import (
    ALERT_MIN_SEVERITY_VAR,
    SEVERITIES,
    SLACK_TOKEN_VAR,
    alert_variables,
    secret_values,
    slack_token,
)
from aircall_pipeline.jsonable import to_jsonable
from aircall_pipeline.timestamps import iso_utc

AlertKind = Literal["auth", "rate_limit", "s3", "check_failed", "config", "stale", "tamper", "other"]
ALERT_KINDS: tuple[str, ...] = ("auth", "rate_limit", "s3", "check_failed", "config", "stale", "tamper", "other")
Severity = Literal["critical", "error", "warning", "info"]

RUN_LINK_LABEL = "Run"
SOURCE = "aircall_pipeline"

logger = logging.getLogger(__name__)


def mrkdwn_escape(text: str) -> str:
    """Text as Slack mrkdwn shows it literally: `&`, `<` and `>` become entities, so a value such as
    `<!channel>` or `<https://evil.invalid|app.aircall.io>` pings nobody and disguises no link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_link(url: str, label: str) -> str:
    """A Slack link we build ourselves. The URL is ours (settings + ids); the characters that would
    end it early are percent-encoded, `&` is escaped as Slack expects, and the label is text."""
    safe = url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{mrkdwn_escape(label)}>"


def _escaped(value: Any) -> Any:
    """Every string inside a JSON-able value, mrkdwn-escaped."""
    if isinstance(value, str):
        return mrkdwn_escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


@dataclass(frozen=True)
class Alert:
    """One alert. `title`, `text` and `details` may hold values from the API or the owner's files;
    the sinks escape them. `run_url` and `links` are ours: `links` are extra (label, url) pairs
    shown after the run's link, e.g. the day's report."""

    title: str
    severity: Severity
    kind: AlertKind
    text: str
    run_id: str | None = None
    run_url: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}; use one of {ALERT_KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown alert severity {self.severity!r}; use one of {SEVERITIES}")

    def _all_links(self) -> list[tuple[str, str]]:
        return ([(RUN_LINK_LABEL, self.run_url)] if self.run_url else []) + list(self.links)

    def as_text(self) -> str:
        """Plain text, for the Dagster log: title, explanation, links."""
        lines = [f"[{self.severity.upper()}] {self.title}", self.text]
        lines += [f"{label}: {url}" for label, url in self._all_links()]
        return "\n".join(line for line in lines if line)

    def as_mrkdwn(self) -> str:
        """Slack mrkdwn, for Slack and the webhook's `text`: every value escaped, then our links."""
        lines = [mrkdwn_escape(f"[{self.severity.upper()}] {self.title}"), mrkdwn_escape(self.text)]
        links = self._all_links()
        if links:
            lines.append(" · ".join(mrkdwn_link(url, label) for label, url in links))
        return "\n".join(line for line in lines if line)

    def as_payload(self) -> dict[str, Any]:
        """The webhook's JSON body. Its human-readable fields are Slack-escaped like `text`, since
        receivers commonly forward any of them to a chat."""
        return {
            "source": SOURCE,
            "title": mrkdwn_escape(self.title),
            "severity": self.severity,
            "kind": self.kind,
            "text": self.as_mrkdwn(),
            "message": mrkdwn_escape(self.text),
            "run_id": self.run_id,
            "run_url": self.run_url,
            "links": {label: url for label, url in self.links},
            "details": _escaped(to_jsonable(dict(self.details))),
            "sent_at": iso_utc(datetime.now(UTC), timespec="seconds"),
        }


# --------------------------------------------------------------------------------------------------
# Settings

@dataclass(frozen=True)
class AlertSettings:
    slack_channel: str | None
    slack_token_set: bool
    webhook_url: str | None
    webserver_url: str
    min_severity: Mapping[str, str] = field(default_factory=dict)  # settings.parse_min_severity


def alert_settings() -> AlertSettings:
    """The alert variables (settings.alert_variables), readable even when another setting is not."""
    v = alert_variables()
    return AlertSettings(v["slack_channel"], v["slack_token_set"], v["webhook_url"], v["webserver_url"],
                         v["alert_min_severity"])


def below_minimum(severity: str, sink: str, min_severity: Mapping[str, str]) -> str | None:
    """The minimum `sink` is set to when `severity` is below it, else None."""
    minimum = min_severity.get(sink) or min_severity.get("*")
    if minimum and SEVERITIES.index(severity) > SEVERITIES.index(minimum):
        return minimum
    return None


def run_url(run_id: str, settings: AlertSettings | None = None) -> str:
    """The run's page in the Dagster UI."""
    base = (settings or alert_settings()).webserver_url.rstrip("/")
    return f"{base}/runs/{run_id}"


def report_url(partition: str, settings: AlertSettings) -> str:
    """The day's report (the report asset, that account's partition) in the Dagster UI."""
    from urllib.parse import quote

    from aircall_pipeline.names import report_key

    return f"{settings.webserver_url}/assets/{'/'.join(report_key().path)}?partition={quote(str(partition), safe='')}"


# --------------------------------------------------------------------------------------------------
# Redaction

def scrub(text: str) -> str:
    """Remove anything that looks like a credential from `text`, and every secret this process read."""
    return redaction.scrub(text, redaction.known_secrets(secret_values()))


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {scrub(str(k)): _scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrub_value(v) for v in value]
    return value


def scrub_alert(alert: Alert) -> Alert:
    return replace(
        alert,
        title=scrub(alert.title),
        text=scrub(alert.text),
        run_url=scrub(alert.run_url) if alert.run_url else alert.run_url,
        details=_scrub_value(dict(alert.details)),
        links=tuple((label, scrub(url)) for label, url in alert.links),
    )


# --------------------------------------------------------------------------------------------------
# Sinks

class AlertDeliveryError(RuntimeError):
    """A sink could not deliver an alert. The message never contains a secret or a full URL."""


class AlertSink(Protocol):
    name: str

    def send(self, alert: Alert) -> None: ...


def _host(url: str) -> str:
    """Only the scheme and host of a URL: webhook URLs often embed a secret (Slack, Teams)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "<unparseable url>"


class LogSink:
    """The Dagster log (a sensor's `context.log`, or the Dagster logger outside a sensor)."""

    name = "log"

    def __init__(self, log: Any | None = None):
        self.log = log

    def send(self, alert: Alert) -> None:
        log = self.log
        if log is None:
            import dagster as dg

            log = dg.get_dagster_logger()
        line = f"ALERT {alert.kind}: {alert.as_text()}"
        if alert.severity in ("critical", "error"):
            log.error(line)
        elif alert.severity == "warning":
            log.warning(line)
        else:
            log.info(line)


class SlackSink:
    """Slack `chat.postMessage`. The token is read from ALERT_SLACK_TOKEN when sending, nowhere else."""

    name = "slack"

    def __init__(self, channel: str, *, base_url: str | None = None, timeout: float = 10.0):
        self.channel = channel
        self.base_url = base_url  # tests point this at a loopback server
        self.timeout = timeout

    def send(self, alert: Alert) -> None:
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        token = slack_token()
        if not token:
            raise AlertDeliveryError(f"{SLACK_TOKEN_VAR} is not set")
        kwargs: dict[str, Any] = {"token": token, "timeout": int(self.timeout)}
        if self.base_url:
            kwargs["base_url"] = self.base_url.rstrip("/") + "/"
        client = WebClient(**kwargs)
        try:
            client.chat_postMessage(channel=self.channel, text=alert.as_mrkdwn(), unfurl_links=False,
                                    unfurl_media=False)
        except SlackApiError as exc:
            # The response's `error` code ("channel_not_found", "invalid_auth", ...) says it all.
            error = exc.response.get("error") if exc.response is not None else None
            raise AlertDeliveryError(f"Slack refused the message: {error or 'unknown error'}") from None
        except Exception as exc:
            raise AlertDeliveryError(f"Slack unreachable: {type(exc).__name__}") from None


class _DoublingRetry(Retry):
    """urllib3's Retry, waiting backoff_factor x 1, 2, 4... before the 2nd, 3rd, 4th... attempt (urllib3
    itself retries the first failure at once): the webhook's backoff as it always was."""

    def get_backoff_time(self) -> float:
        failures = len(self.history)
        return self.backoff_factor * 2 ** (failures - 1) if failures else 0.0


# 429 and every 5xx are the receiver saying "later"; any other status rejects the request itself,
# and repeating it will not help.
RETRIED_STATUSES = frozenset([429, *range(500, 600)])


class WebhookSink:
    """POST the alert as JSON; retries connection errors, timeouts, 429 and 5xx a bounded number of times."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0, attempts: int = 3, backoff_seconds: float = 1.0):
        self.url = url
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds

    def retry(self) -> Retry:
        return _DoublingRetry(
            total=self.attempts - 1, backoff_factor=self.backoff_seconds, status_forcelist=RETRIED_STATUSES,
            allowed_methods=None,  # POST included: an alert delivered twice beats an alert lost
            raise_on_status=False,  # the last answer is returned, and reported as "HTTP <status>"
            respect_retry_after_header=False,  # the backoff is ours, never a receiver's to stretch
        )

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.as_payload()).encode()
        headers = {"Content-Type": "application/json", "User-Agent": f"{SOURCE}-alerts"}
        with requests.Session() as session:
            adapter = HTTPAdapter(max_retries=self.retry())
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            try:
                resp = session.post(self.url, data=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                retried = isinstance(exc.args[0] if exc.args else None, MaxRetryError)
                attempts, last = (self.attempts if retried else 1), _failure_name(exc)
            else:
                if resp.status_code < 300:
                    return
                history = getattr(getattr(resp.raw, "retries", None), "history", ())
                attempts, last = len(history) + 1, f"HTTP {resp.status_code}"
        raise AlertDeliveryError(f"webhook {_host(self.url)} failed after {attempts} attempt(s): {last}")


def _failure_name(exc: requests.RequestException) -> str:
    """What went wrong, named as requests names it for one attempt (requests reports every error
    whose retries ran out as a ConnectionError, a timeout included)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, ReadTimeoutError):
        return requests.ReadTimeout.__name__
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return requests.ConnectTimeout.__name__
    return type(exc).__name__


def configured_sinks(settings: AlertSettings | None = None) -> list[AlertSink]:
    """The external sinks the environment configures (the log sink is always added by send_alert)."""
    settings = settings or alert_settings()
    sinks: list[AlertSink] = []
    if settings.slack_token_set and settings.slack_channel:
        sinks.append(SlackSink(settings.slack_channel))
    if settings.webhook_url:
        sinks.append(WebhookSink(settings.webhook_url))
    return sinks


def send_alert(alert: Alert, *, log: Any | None = None, sinks: Sequence[AlertSink] | None = None,
               settings: AlertSettings | None = None) -> dict[str, str]:
    """Redact, then deliver `alert` to the log and every configured sink whose ALERT_MIN_SEVERITY
    it reaches (the Dagster log receives every alert: it is the record of what was raised).

    Returns `{sink name: "sent" | "skipped: ..." | "failed: <reason>"}`; never raises because of a sink.
    """
    alert = scrub_alert(alert)
    settings = settings or alert_settings()
    outcome: dict[str, str] = {}
    log_sink = LogSink(log)
    all_sinks: Iterable[AlertSink] = [log_sink, *(configured_sinks(settings) if sinks is None else sinks)]
    for sink in all_sinks:
        minimum = None if sink is log_sink else below_minimum(alert.severity, sink.name, settings.min_severity)
        if minimum:
            outcome[sink.name] = f"skipped: {alert.severity} is below {ALERT_MIN_SEVERITY_VAR} ({minimum})"
            continue
        try:
            sink.send(alert)
            outcome[sink.name] = "sent"
        except Exception as exc:  # a broken sink must never crash the sensor
            reason = scrub(str(exc)) if isinstance(exc, AlertDeliveryError) else type(exc).__name__
            outcome[sink.name] = f"failed: {reason}"
            try:
                (log or logger).error(f"Alert sink '{sink.name}' could not deliver '{alert.title}': {reason}")
            except Exception:  # the logger itself is gone: nothing more can be done
                pass
    return outcome
