"""The API URL rule as the configuration states it: aircall/api_url.py's check, its refusal a
SettingsError like every other configuration mistake.

Its own module, below settings.py and accounts.py: the accounts file checks each account's api_url
with the same rule as AIRCALL_API_URL, without importing the application's settings.
"""

from __future__ import annotations

from aircall_pipeline.aircall.api_url import DEFAULT_API_URL, ApiUrlError, is_loopback_host
from aircall_pipeline.aircall.api_url import validate_api_url as _check_api_url
from aircall_pipeline.config.settings_error import SettingsError
from aircall_pipeline.redaction import shown_url

__all__ = ["DEFAULT_API_URL", "is_loopback_host", "shown_url", "validate_api_url"]


def validate_api_url(url: str) -> str:
    """aircall/api_url.py's check of an API URL; its refusal is a SettingsError like every other."""
    try:
        return _check_api_url(url)
    except ApiUrlError as exc:
        raise SettingsError(str(exc)) from None
