"""One redactor for URLs and secrets: what may be shown of a URL, and what must go from any text.

A plain library (no Dagster, no configuration): the caller passes the secret values it knows of.
Every place that shows a URL or sends text out of the process goes through here: the settings'
error messages, the limiter's URL, the evidence store's URIs and S3 endpoint, the manifest's
`api_url`, the normaliser's webhook destinations and the alert scrubber.

A URL can carry a secret in four places: its userinfo (`user:password@`), its query (`?token=`,
presigned S3 URLs), its path (incoming-webhook URLs, whose path *is* the secret) and its fragment.
`redact_url` removes each part as the caller asks; `scrub` removes every credential-looking thing
from free text (alerts, command output).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Literal
from urllib.parse import unquote, urlsplit

REDACTED = "[redacted]"

Userinfo = Literal["drop", "mask", "mask_password"]
Query = Literal["keep", "drop", "mask_secrets"]

# Query parameter names whose value is a password (redis-py reads `?password=`).
_SECRET_QUERY = re.compile(r"(?i)^(password|passwd|pwd|token|secret)$")


def redact_url(url: str, *, userinfo: Userinfo = "drop", query: Query = "drop", fragment: bool = False,
               lower_host: bool = False, mark: str = "***") -> str:
    """`url` without the parts that may hold a secret.

    userinfo: "drop" removes `user:password@`, "mask" shows `<mark>@host`, "mask_password" keeps
    the user name (`user:<mark>@host`). query: "drop", "keep", or "mask_secrets" (the values of
    password-like parameters become `mark`). fragment: keep it. lower_host: show the host as
    `urlsplit` normalises it (lower case, no userinfo), as botocore does for endpoints.
    The URL comes back unchanged when there is nothing to remove.
    """
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    if lower_host:
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    netloc = host
    if "@" in parts.netloc:
        user_info = parts.netloc.rsplit("@", 1)[0]
        if userinfo == "mask":
            netloc = f"{mark}@{host}"
        elif userinfo == "mask_password":
            netloc = f"{user_info.split(':', 1)[0]}:{mark}@{host}" if ":" in user_info else parts.netloc
    text_query = "" if query == "drop" else parts.query
    if query == "mask_secrets" and text_query:
        pairs = [pair.partition("=") for pair in text_query.split("&")]
        text_query = "&".join(f"{k}{eq}{mark}" if eq and _SECRET_QUERY.match(unquote(k)) else f"{k}{eq}{v}"
                              for k, eq, v in pairs)
    text_fragment = parts.fragment if fragment else ""
    if (netloc, text_query, text_fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    # Rebuilt by hand: geturl() drops the empty authority of unix:///path.
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{text_query}" if text_query else "")
            + (f"#{text_fragment}" if text_fragment else ""))


def shown_url(url: str) -> str:
    """`url` fit for a message: no user:password@, query or fragment (they may hold a secret)."""
    return redact_url(url) if urlsplit(url).scheme else "(not a URL)"


def url_destination(url) -> tuple[str | None, str | None]:
    """(scheme, host) of a URL, lower-cased: no userinfo, port, path, query or fragment, any of which
    may hold a credential. A URL without "://" has no scheme (None) and its host is read as if it
    had one; the host is None when there is none to read."""
    if not isinstance(url, str) or not url.strip():
        return None, None
    text = url.strip()
    # Without "://", urlsplit would read "user:pw@host/x" as scheme "user": never take a scheme there.
    has_scheme = "://" in text
    try:
        parts = urlsplit(text if has_scheme or text.startswith("//") else "//" + text)
        host = parts.hostname  # without userinfo and port, lower-cased
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None, None
    scheme = parts.scheme.lower() if has_scheme and parts.scheme else None
    return scheme, (host.rstrip(".") or None) if host else None


# --------------------------------------------------------------------------------------------------
# Free text

_MIN_SECRET_LEN = 4  # below this, replacing the value would mangle ordinary words

# A name that says its value is secret: `AIRCALL_API_TOKEN`, `"api_token"`, `password`,
# `AWS_SECRET_ACCESS_KEY`, `client_secret`, `x-api-key`... A bare `key` is not one (`partition_key`).
_CREDENTIAL_NAME = (r"[A-Za-z0-9_.-]*?(?:token|secret|password|passwd|pwd|credentials?|"
                    r"(?:api|access|secret|private|signing|hash|master|account)[_-]?key)")
# A quoted value runs to its closing quote; a bare one to a space or a delimiter.
_CREDENTIAL_VALUE = r"(?:\"[^\"]*\"|'[^']*'|[^\s\"',;}&]+)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers and the like, whatever the scheme: the scheme and the credential go.
    (re.compile(r"(?i)\b(authorization|proxy-authorization)([\"']?\s*[:=]\s*)(\"|')?[^\s\"',}]+( [^\s\"',}]+)?"),
     rf"\1\2{REDACTED}"),
    # name=value, name: value, "name": "value" (environment dumps, JSON, logfmt, prose).
    (re.compile(rf"(?i)(?<![A-Za-z0-9_.-])({_CREDENTIAL_NAME})([\"']?\s*[:=]\s*){_CREDENTIAL_VALUE}"),
     rf"\1\2{REDACTED}"),
    (re.compile(r"\b(?:xox[a-z]|xapp)-[A-Za-z0-9-]{6,}"), REDACTED),  # Slack bot/user/app tokens
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),  # AWS access key ids
)
# `Basic <base64 of id:secret>` and `Bearer <token>`; the credential is checked in code (below) so
# that prose such as "basic authentication" or "bearer tokens" is left alone.
_AUTH_SCHEME = re.compile(r"(?i)\b(basic|bearer)(\s+)([A-Za-z0-9+/_.~-]{6,}=*)")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>`]+")
# A query parameter *name* that marks a signed or credential-bearing URL (S3 presigned URLs, SAS
# tokens, Aircall's short-lived recording links, ?api_key=...).
_SIGNED_QUERY = re.compile(
    r"(?i)(?:^|&)[^=&]*(?:sig|signature|token|credential|expires|key|auth|secret|password)[^=&]*="
)
# Incoming-webhook URLs whose path *is* the secret: on these hosts the whole path goes (Slack's
# /services/T…/B…/secret, Teams' webhookb2/…, Discord's /api/webhooks/id/token); elsewhere whatever
# follows a /hooks/ or /webhooks/ segment (Mattermost, Rocket.Chat, GitLab and most self-hosted ones).
_WEBHOOK_HOSTS = ("hooks.slack.com", "webhook.office.com", "discord.com", "discordapp.com")
_WEBHOOK_PATH = re.compile(r"(?i)(/(?:hooks|webhooks?|webhookb2)/).+")


def known_secrets(credentials: Iterable[tuple[str, str]]) -> list[str]:
    """The strings to remove for (api id, secret) pairs: each secret and the Basic header value it
    makes, in case anything ever echoed it; longest first, so no partial leftovers."""
    values = []
    for api_id, secret in credentials:
        values.append(secret)
        if api_id:
            values.append(base64.b64encode(f"{api_id}:{secret}".encode()).decode())
    values = [v for v in values if len(v) >= _MIN_SECRET_LEN]
    return sorted(set(values), key=len, reverse=True)


def _is_basic_credential(value: str) -> bool:
    """True when `value` decodes as Basic credentials do: base64 of printable `user:password`."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=False).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


def _looks_like_token(value: str) -> bool:
    """A bearer token, not an English word: a digit or token punctuation in it, or a long string."""
    return bool(re.search(r"[0-9._~+/=]", value)) or len(value) >= 24


def _scrub_auth_scheme(match: re.Match[str]) -> str:
    scheme, space, value = match.groups()
    secret = _is_basic_credential(value) if scheme.lower() == "basic" else _looks_like_token(value)
    return f"{scheme.capitalize()}{space}{REDACTED}" if secret else match.group(0)


def _scrub_url(match: re.Match[str]) -> str:
    url = match.group(0)
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:  # user:password@host
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    path = parts.path
    host = (parts.hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in _WEBHOOK_HOSTS) and path.strip("/"):
        path = f"/{REDACTED}"
    else:
        path = _WEBHOOK_PATH.sub(rf"\1{REDACTED}", path)
    query = parts.query
    if query and _SIGNED_QUERY.search(query):
        query = REDACTED
    rebuilt = f"{parts.scheme}://{netloc}{path}"
    if query:
        rebuilt += f"?{query}"
    if parts.fragment:
        rebuilt += f"#{parts.fragment}"
    return rebuilt


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without anything that looks like a credential, nor any of the `secrets` given."""
    if not text:
        return text
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    text = _URL.sub(_scrub_url, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _AUTH_SCHEME.sub(_scrub_auth_scheme, text)
