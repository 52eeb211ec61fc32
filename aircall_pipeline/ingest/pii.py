"""The key behind the keyed hash of external phone numbers.

The hash must be stable within an account (so the same caller is recognisable across days) and
useless without the key (a phone number space is small enough to brute-force an unkeyed hash).
The key is AIRCALL_PII_HASH_KEY or, for a single host, a file generated once under DAGSTER_HOME
(several hosts or pods must share AIRCALL_PII_HASH_KEY instead). Either way it is used as it is:
nothing of the API key goes into it, so rotating the API key leaves every hash unchanged.

Earlier versions kept a secret in `aircall_pii_hash.key` and hashed with `<secret>:<api host>/<api
id>`. Such a setup is migrated on its first run: that derived value, computed once with the API id
of the day, becomes the content of the new key file, so its hashes do not change. (An
AIRCALL_PII_HASH_KEY setup keeps its hashes by setting the variable to that same derived value.)
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from aircall_pipeline.config.settings import PII_HASH_KEY_VAR, SettingsError, dagster_home, pii_hash_secret

KEY_FILE = "aircall_pii_hmac.key"
LEGACY_KEY_FILE = "aircall_pii_hash.key"  # the secret that earlier versions combined with the account
MIN_KEY_BYTES = 32


def hash_key(account: str) -> bytes:
    """The HMAC key. `account` (`<api host>/<api id>`) is read only to migrate a legacy key file."""
    configured = pii_hash_secret()
    if configured:
        return _checked(configured, PII_HASH_KEY_VAR)
    home = dagster_home()
    path = home / KEY_FILE
    if not path.exists():
        legacy = home / LEGACY_KEY_FILE
        if legacy.exists():
            value = f"{legacy.read_text().strip()}:{account}"  # what earlier versions hashed with
        else:
            value = secrets.token_hex(32)
        _publish(path, value)
    return _checked(path.read_text().strip(), str(path))


def _checked(value: str, source: str) -> bytes:
    key = value.encode()
    if len(key) < MIN_KEY_BYTES:
        raise SettingsError(
            f"The phone-number hash key from {source} is {len(key)} bytes; at least {MIN_KEY_BYTES} are "
            "needed (e.g. `openssl rand -hex 32`). Changing the key changes every external-number hash."
        )
    return key


def _publish(path: Path, value: str) -> None:
    """Create `path` holding `value`, atomically: the value is written and synced under a temporary
    name, then hard-linked to `path`. A reader never sees a missing or half-written key, and when
    several first runs race, the first link wins and every run uses that one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process published first: its key is the key
    finally:
        os.unlink(tmp)
