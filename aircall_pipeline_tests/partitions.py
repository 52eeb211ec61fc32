"""Partition helpers for the tests: the single account's key and registered instances."""

from __future__ import annotations

import dagster as dg

from aircall_pipeline.config.settings import DEFAULT_ACCOUNT_KEY
from aircall_pipeline.ingest.partitions import partition_key
from aircall_pipeline.names import ACCOUNTS_PARTITIONS


def pk(day: str, account: str = DEFAULT_ACCOUNT_KEY) -> str:
    """The partition key of `account`'s `day` (default: the single account of the variables)."""
    return partition_key(account, day)


def registered(instance: dg.DagsterInstance | None = None, *accounts: str) -> dg.DagsterInstance:
    """`instance` (a new ephemeral one by default) with `accounts` (default: `default`) registered as
    `aircall_accounts` partitions, as the registry sensor would have."""
    instance = instance if instance is not None else dg.DagsterInstance.ephemeral()
    wanted = list(accounts or (DEFAULT_ACCOUNT_KEY,))
    existing = set(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS))
    new = [a for a in wanted if a not in existing]
    if new:
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS, new)
    return instance
