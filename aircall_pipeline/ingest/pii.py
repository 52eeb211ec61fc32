"""The key behind the keyed hash of external phone numbers.

The hash must be stable within an account (so the same caller is recognisable across days) and
useless without the key (a phone number space is small enough to brute-force an unkeyed hash).
The key comes from AIRCALL_PII_HASH_KEY, or, for a single host, is generated once and kept under
DAGSTER_HOME (several hosts or pods must share AIRCALL_PII_HASH_KEY instead).
"""

from __future__ import annotations

import os
import secrets

from aircall_pipeline.settings import dagster_home, pii_hash_secret


def hash_key(account: str) -> bytes:
    """Per-account key: the secret combined with the account id, so two accounts never share hashes."""
    secret = pii_hash_secret()
    if not secret:
        path = dagster_home() / "aircall_pii_hash.key"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x") as fh:  # exclusive create: concurrent first runs agree on one key
                os.chmod(path, 0o600)
                fh.write(secrets.token_hex(32))
        except FileExistsError:
            pass
        secret = path.read_text().strip()
    return f"{secret}:{account}".encode()
