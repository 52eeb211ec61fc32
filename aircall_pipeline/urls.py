"""URL rules shared by the configuration and the libraries that dial out: which hosts are loopback
(the only ones plain http:// is accepted for), a URL fit for a message, and the Aircall API root.

Its own module, below settings.py and accounts.py: the accounts file checks each account's api_url
with the same rule as AIRCALL_API_URL, and the evidence library's TSA client needs the first two,
without either of them importing the application's settings.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from aircall_pipeline.settings_error import SettingsError

DEFAULT_API_URL = "https://api.aircall.io"


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def shown_url(url: str) -> str:
    """`url` fit for a message: no user:password@, query or fragment (they may hold a secret)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else "(not a URL)"


def validate_api_url(url: str) -> str:
    """Refuse credentials in the URL, and plain http:// except on loopback: the Basic credentials
    must never cross a network in clear, nor sit in a URL that run tags, logs and alerts repeat."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise SettingsError(
            f"AIRCALL_API_URL ({shown_url(url)}) contains credentials (user:password@). Remove them "
            "from the URL: the key goes in AIRCALL_API_ID and AIRCALL_API_TOKEN only."
        )
    if parts.query or parts.fragment:
        raise SettingsError(f"AIRCALL_API_URL ({shown_url(url)}) must be the API root, without ?query or #fragment.")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SettingsError(f"AIRCALL_API_URL ({shown_url(url)}) is not an http(s) URL; use https://api.aircall.io.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise SettingsError(
            f"AIRCALL_API_URL ({shown_url(url)}) uses plain http:// on a non-loopback host; the API key would "
            "travel unencrypted. Use https:// (http:// is only accepted for a sandbox on localhost)."
        )
    version = _VERSION_PATH.search(parts.path.rstrip("/"))
    if version:
        # The client adds /v1 or /v2 itself (users are read from /v2, everything else from /v1), so a
        # root that ends in a version would send every request to /v1/v1/...: Aircall's reference
        # gives https://api.aircall.io/v1 as "the API root", which makes this an easy mistake.
        root = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')[: version.start()]}"
        raise SettingsError(
            f"AIRCALL_API_URL ({shown_url(url)}) ends in the API version {version.group(0)!r}; drop it and "
            f"set AIRCALL_API_URL={root} (the pipeline adds /v1 and /v2 to each request itself)."
        )
    return url.rstrip("/")


_VERSION_PATH = re.compile(r"/v\d+$", re.IGNORECASE)
