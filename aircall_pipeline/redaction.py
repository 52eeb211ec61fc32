"""What of a URL may be shown: the one place that removes credentials from URLs.

A URL can carry a secret in its userinfo (`user:password@`), in its query (`?password=`, a presigned
`X-Amz-Signature`, `?api_key=`), in its fragment, or, for incoming webhooks, in its path. Every
message, log line, alert, run tag and evidence file that repeats a URL passes it through here:

- `redact_url(url)` for one URL. Callers choose how much they keep: an error message names the
  scheme, host and path only (the default); the limiter keeps its username and marks where the
  password was; a manifest keeps a harmless query.
- `redact_urls_in(text)` for every URL inside free text (alerts): credentials, signed queries and
  secret webhook paths are replaced, the rest of the text is left as it is.
- `url_destination(url)` for the (scheme, host) of a URL and nothing else (webhooks in the evidence).

Text without a `scheme://` is read as `host/path` (so `user:password@host` is not taken for a URL of
scheme "user", which would leave the password in its "path"). Plain Python: no Dagster, no environment.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

MASK = "***"

UserinfoPolicy = Literal["drop", "mask", "mask_password"]
QueryPolicy = Literal["drop", "mask_values", "mask_whole", "keep"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# A query parameter *name* that marks a credential or a signed URL: ?password= and friends (redis-py
# reads the password from there too), S3 presigned URLs (X-Amz-Signature, X-Amz-Credential), SAS
# tokens (sig=), Aircall's short-lived recording links, ?api_key=... Matched anywhere in the name.
_SECRET_QUERY_NAME = re.compile(r"(?i)sig|token|credential|expires|key|auth|secret|passw|pwd")
# Incoming-webhook URLs whose path *is* the secret: on these hosts the whole path goes (Slack's
# /services/T…/B…/secret, Teams' webhookb2/…, Discord's /api/webhooks/id/token); elsewhere whatever
# follows a /hooks/ or /webhooks/ segment (Mattermost, Rocket.Chat, GitLab and most self-hosted ones).
_WEBHOOK_HOSTS = ("hooks.slack.com", "webhook.office.com", "discord.com", "discordapp.com")
_WEBHOOK_PATH = re.compile(r"(?i)(/(?:hooks|webhooks?|webhookb2)/).+")
# A URL inside free text: a scheme, "://", and everything up to a space, a quote or a bracket.
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>`]+")


def split_url(text: str) -> tuple[str, SplitResult]:
    """(scheme as written followed by "://", or "" when there is none; the parts of `text`).
    Raises ValueError when the URL cannot be read (e.g. an unbalanced IPv6 bracket)."""
    scheme = _SCHEME.match(text)
    if scheme:
        return scheme.group(0), urlsplit(text)
    if text.startswith("//"):
        return "//", urlsplit(text)
    # Without "://", urlsplit would read "user:pw@host/x" as scheme "user": read it as a host instead.
    return "", urlsplit("//" + text)


def _is_secret_parameter(pair: str) -> bool:
    name, eq, _ = pair.partition("=")
    return bool(eq) and bool(_SECRET_QUERY_NAME.search(unquote(name)))


def _redacted_query(query: str, policy: QueryPolicy, mask: str) -> str:
    if not query or policy == "keep":
        return query
    if policy == "drop":
        return ""
    pairs = query.split("&")
    if policy == "mask_whole":
        # A signed URL's other parameters (X-Amz-Date, X-Amz-SignedHeaders...) go with its signature.
        return mask if any(_is_secret_parameter(p) for p in pairs) else query
    return "&".join(f"{p.partition('=')[0]}={mask}" if _is_secret_parameter(p) else p for p in pairs)


def redact_url(url: str | None, *, userinfo: UserinfoPolicy = "drop", query: QueryPolicy = "drop",
               mask: str = MASK, webhook_paths: bool = False) -> str:
    """`url` without its secrets, or `url` itself (the same string) when it holds none.

    userinfo: "drop" removes `user:password@`; "mask" replaces it with `<mask>@` (the reader sees that
    credentials were there); "mask_password" keeps the username and masks the password only
    (`redis://app:***@host`; a username alone is kept).
    query: "drop" removes the query *and* the fragment; "mask_values" masks the value of each secret
    parameter (`?password=***&db=0`); "mask_whole" replaces the whole query when any parameter is
    secret (a signed URL); "keep" keeps it.
    webhook_paths: mask the path of incoming-webhook URLs, which is their secret.
    None or "" gives ""; a URL that cannot be read gives `mask`."""
    if not url:
        return ""
    try:
        prefix, parts = split_url(url)
    except ValueError:
        return mask
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, host = netloc.rpartition("@")
        if userinfo == "drop":
            netloc = host
        elif userinfo == "mask":
            netloc = f"{mask}@{host}"
        elif ":" in credentials:
            netloc = f"{credentials.partition(':')[0]}:{mask}@{host}"
    path = parts.path
    if webhook_paths:
        hostname = (parts.hostname or "").lower()
        if any(hostname == h or hostname.endswith("." + h) for h in _WEBHOOK_HOSTS) and path.strip("/"):
            path = f"/{mask}"
        else:
            path = _WEBHOOK_PATH.sub(lambda m: m.group(1) + mask, path)
    shown_query = _redacted_query(parts.query, query, mask)
    fragment = "" if query == "drop" else parts.fragment
    if (netloc, path, shown_query, fragment) == (parts.netloc, parts.path, parts.query, parts.fragment):
        return url
    # Rebuilt by hand: urlunsplit drops the empty authority of unix:///path and lower-cases the scheme.
    return (f"{prefix}{netloc}{path}" + (f"?{shown_query}" if shown_query else "")
            + (f"#{fragment}" if fragment else ""))


def redact_urls_in(text: str, *, mask: str = MASK) -> str:
    """`text` with every `scheme://` URL in it redacted: credentials become `<mask>@`, a signed or
    credential-bearing query becomes `<mask>`, an incoming webhook's secret path becomes `<mask>`.
    A URL that cannot be read is replaced by `mask` altogether."""
    if not text:
        return text
    return _URL_IN_TEXT.sub(
        lambda m: redact_url(m.group(0), userinfo="mask", query="mask_whole", mask=mask, webhook_paths=True),
        text,
    )


def url_destination(url: object) -> tuple[str | None, str | None]:
    """(scheme, host) of a URL, lower-cased: no userinfo, port, path, query or fragment, any of which
    may hold a credential. A URL without "://" has no scheme (None) and its host is read as if it
    had one; the host is None when there is none to read (nor for anything but a non-empty string)."""
    if not isinstance(url, str) or not url.strip():
        return None, None
    try:
        prefix, parts = split_url(url.strip())
        host = parts.hostname  # without userinfo and port, lower-cased
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None, None
    scheme = parts.scheme.lower() if prefix.endswith("://") and parts.scheme else None
    return scheme, (host.rstrip(".") or None) if host else None
