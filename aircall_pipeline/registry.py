"""The registry of accounts, read at run and tick time: which accounts exist, and which are live.

The accounts file (AIRCALL_ACCOUNTS_FILE, or the single account of the AIRCALL_* variables) is the
interface; it is read again whenever it may have changed, so an account added to the file (or to
its ConfigMap) is seen by the next sensor tick and the next run without reloading the code location.
`AccountsResource` is the assets' door to it: the account of a run is the one its partition names.

An account's state:
- live: in the file, not paused: registered as an `aircall_accounts` partition and scheduled;
- paused: in the file with `paused: true`: registered, not scheduled;
- removed: a registered partition no longer in the file: not scheduled; its evidence is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from aircall_pipeline.config.settings import ACCOUNTS_FILE_VAR, Account, Settings, SettingsError
from aircall_pipeline.ingest.partitions import account_of, account_of_key, day_of
from aircall_pipeline.names import report_key

LIVE, PAUSED, REMOVED = "live", "paused", "removed"

_cache: dict = {}


def current_settings() -> Settings:
    """`Settings.from_env()`, parsed again only when the environment or the accounts file changed
    (a thousand accounts are parsed once, not once per step). SettingsError as from_env."""
    path = os.environ.get(ACCOUNTS_FILE_VAR)
    stamp = None
    if path:
        try:
            stat = Path(path).expanduser().stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            stamp = None  # from_env says what is wrong with the file
    key = (tuple(sorted(os.environ.items())), stamp)
    if _cache.get("key") != key or stamp is None and path:
        _cache.clear()
        _cache["settings"] = Settings.from_env()
        _cache["key"] = key
    return _cache["settings"]


def state_of(account: Account) -> str:
    return PAUSED if account.paused else LIVE


def removed_keys(settings: Settings, registered: Iterable[str]) -> list[str]:
    """The registered account keys (`aircall_accounts` partitions) that the registry no longer
    lists: the removed accounts, sorted."""
    listed = {account.key for account in settings.accounts}
    return sorted(set(registered) - listed)


def last_sealed_days(instance: dg.DagsterInstance) -> dict[str, str]:
    """Account key -> the newest evidence date (YYYY-MM-DD) whose `aircall/evidence_report` partition
    is materialized: the account's last sealed day. Accounts with none are absent. Keys that are not
    `<account>|<date>` (a materialization reported without the account) are left out."""
    newest: dict[str, str] = {}
    for key in instance.get_materialized_partitions(report_key()):
        if "|" not in key:
            continue
        account, day = account_of_key(key), day_of(key)
        if day > newest.get(account, ""):
            newest[account] = day
    return newest


class AccountsResource(dg.ConfigurableResource):
    """The registry of accounts (see the module docstring): the account of a run's partition."""

    def settings(self) -> Settings:
        return current_settings()

    def account(self, key: str) -> Account:
        """The account whose partition key (Account.key) is `key`; SettingsError when the file no
        longer lists it (a removed account's days can no longer be collected: its credentials and
        settings are gone with its entry)."""
        settings = current_settings()
        for account in settings.accounts:
            if account.key == key:
                return account
        raise SettingsError(
            f"no account {key!r} in the registry ({os.environ.get(ACCOUNTS_FILE_VAR) or 'the AIRCALL_* variables'}): "
            "it was removed from the accounts file, or never added. Its evidence is kept; add it back to collect it.")

    def for_context(self, context) -> Account:
        """The account of the run's partition(s)."""
        return self.account(account_of(context))
