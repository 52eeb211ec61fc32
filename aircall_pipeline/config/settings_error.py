"""The one error every configuration module raises: settings, the accounts file, the credentials.

Its own module so that each of them can raise it without importing another (settings.py reads the
accounts file and the credentials; they must not import settings.py back).
"""

from __future__ import annotations


class SettingsError(ValueError):
    """A configuration value is unusable; the message names the variable and what to do."""
