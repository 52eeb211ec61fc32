"""The partitions of every asset: one account (a dynamic dimension) × one evidence date.

Every partitioned asset uses the same `MultiPartitionsDefinition`:

- `account`: the `aircall_accounts` dynamic partitions, one key per account of the registry (its
  name, or `default` for the single account of the environment variables). The registry sensor
  (operations/registry_sensor.py) adds the accounts of the accounts file as they appear; an
  account removed from the file keeps its partition (and its evidence), it is only no longer
  scheduled.
- `date`: daily, keyed by each account's *local* calendar date. The dimension itself has one
  timezone (UTC); the day's window (local midnight to midnight in the account's timezone, as UTC
  datetimes) is computed at run time from the account's timezone (`day_window`). `end_offset=1`
  so an account east of UTC can already have its previous local day while UTC is still on it.
  It starts at AIRCALL_PARTITIONS_START or the history horizon (AIRCALL_HISTORY_DAYS before the
  day the definitions load), the later: Aircall answers older call windows with an empty list.

A partition key is Dagster's multi key, `<account>|<date>` (dimension names sorted). The helpers
below are the only code that builds or reads one. The definitions are built when they load
(`build_defs(settings)`), never at import, so one invalid value cannot stop the code location from
loading, and the alert sensors with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from aircall_pipeline.config.settings import Account, Settings
from aircall_pipeline.ingest.timing import history_start
from aircall_pipeline.names import ACCOUNTS_PARTITIONS

ACCOUNT_DIM, DATE_DIM = "account", "date"
ACCOUNTS = dg.DynamicPartitionsDefinition(name=ACCOUNTS_PARTITIONS)


def first_partition(account: Account | None, settings: Settings, now: datetime | None = None) -> str:
    """The first evidence date offered: AIRCALL_PARTITIONS_START or the history horizon, the later.

    The horizon moves with time; a code location loaded long ago may still offer a day that has since
    passed it, which the calls asset then refuses (timing.ensure_within_history). `account`: whose
    local today counts (None: UTC's, which the one date dimension uses)."""
    tz = ZoneInfo(account.timezone if account else "UTC")
    today = (now or datetime.now(tz)).astimezone(tz).date()
    horizon = history_start(today, settings.history_days)
    return max(date.fromisoformat(settings.partitions_start), horizon).isoformat()


def partitions_for(settings: Settings, now: datetime | None = None) -> dg.MultiPartitionsDefinition:
    """The one partitions definition of every asset (see the module docstring)."""
    # The horizon of the westernmost account is a day behind UTC's at most: start a day earlier so
    # that no account's first collectable local day is missing.
    start = date.fromisoformat(first_partition(None, settings, now))
    if start.isoformat() != settings.partitions_start:
        start -= timedelta(days=1)
    return dg.MultiPartitionsDefinition({
        ACCOUNT_DIM: ACCOUNTS,
        DATE_DIM: dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1),
    })


def partition_key(account_key: str, day: str | date) -> dg.MultiPartitionKey:
    """The partition of `account_key` (Account.key) on its local calendar day `day`."""
    return dg.MultiPartitionKey({ACCOUNT_DIM: account_key, DATE_DIM: str(day)})


def _keys_by_dimension(key: str) -> dict[str, str]:
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    account, sep, day = str(key).partition("|")
    if not sep:
        raise ValueError(f"partition key {key!r} is not `<account>|<date>`")
    return {ACCOUNT_DIM: account, DATE_DIM: day}


def account_of_key(key: str) -> str:
    return _keys_by_dimension(key)[ACCOUNT_DIM]


def account_name(account_key: str | None) -> str | None:
    """The accounts-file name of an account key (None for the single account's `default`), as alerts
    and commands name it."""
    from aircall_pipeline.config.settings import DEFAULT_ACCOUNT_KEY

    return None if account_key in (None, "", DEFAULT_ACCOUNT_KEY) else account_key


def day_of(key: str) -> str:
    """The evidence date (YYYY-MM-DD) of a partition key."""
    return _keys_by_dimension(key)[DATE_DIM]


def accounts_of(keys: Iterable[str]) -> set[str]:
    return {account_of_key(k) for k in keys}


def account_of(context) -> str:
    """The one account a run (an asset, op or IO context) is about: every partition of a run belongs
    to the same account (a backfill chunk is one account's date range)."""
    keys = list(context.partition_keys if hasattr(context, "partition_keys") else context.asset_partition_keys)
    accounts = accounts_of(keys)
    if len(accounts) != 1:
        raise ValueError(f"a run must target exactly one account; this one targets {sorted(accounts) or 'none'}")
    return accounts.pop()


def days_of(keys: Iterable[str]) -> list[str]:
    """The evidence dates of partition keys, oldest first."""
    return sorted(day_of(k) for k in keys)


def day_window(day: str | date, timezone: str) -> tuple[datetime, datetime]:
    """Local midnight to midnight of `day` in `timezone`, as UTC datetimes."""
    tz = ZoneInfo(timezone)
    day = date.fromisoformat(str(day))
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def register_accounts(instance: dg.DagsterInstance, accounts: Iterable[Account]) -> list[str]:
    """Add the accounts missing from the `aircall_accounts` partitions (what the registry sensor does
    on every tick; the CLI and the tests call it directly). The keys added."""
    existing = set(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS))
    new = [a.key for a in accounts if a.key not in existing]
    if new:
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, new)
    return new
