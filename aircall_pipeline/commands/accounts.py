"""`aircall-pipeline accounts`, and the `--account NAME` option that check-connection, run and verify share.

Without an accounts file there is one account (the AIRCALL_* variables) and `--account` is not
needed; with one, a command acts on the only account, or says which accounts exist.

`aircall-pipeline accounts` shows each account's state (registry.py): live, paused, or removed (an
`aircall_accounts` partition of the instance that the file no longer lists), and its last sealed
day (the newest date of its materialized `aircall/evidence_report`), both read from the Dagster
instance of DAGSTER_HOME when there is one.
"""

from __future__ import annotations

import argparse
import json

from aircall_pipeline.commands.exit_codes import EXIT_OK, EXIT_UNUSABLE


def add_account_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", metavar="NAME",
                        help="the account of AIRCALL_ACCOUNTS_FILE to act on (`aircall-pipeline accounts` lists them)")


def selected_account(args: argparse.Namespace):
    """(settings, account) for the command's --account; SettingsError says what is wrong."""
    from aircall_pipeline.config.settings import Settings

    settings = Settings.from_env()
    return settings, settings.account(getattr(args, "account", None))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "accounts",
        help="list the Aircall accounts: their state (live, paused, removed), last sealed day, settings, "
             "and whether their variables are set",
        description="Lists every account (AIRCALL_ACCOUNTS_FILE, or the single account of the AIRCALL_* "
                    "variables) with its state, its last sealed day, its configuration and whether its "
                    "credential variables are set, then the removed accounts: registered in the Dagster "
                    "instance (DAGSTER_HOME) but no longer in the file. Without an instance, the last sealed "
                    "days and the removed accounts are unknown (shown as -). Secrets are never printed.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per account")
    parser.set_defaults(func=run)


SINGLE_ACCOUNT_NAME = "(single account: AIRCALL_* variables)"
# What a removed account's row holds besides its name, state, partition and last sealed day: its
# settings went with its entry of the file.
CONFIG_FIELDS = ("api_url", "evidence_uri", "timezone", "rate_limit_per_minute", "schedule_cron", "roles_uri",
                 "roster_uri", "policy_file", "credentials", "budget")


def describe(account, settings, *, last_sealed_day: str | None = None) -> dict:
    from aircall_pipeline.config.settings import variables_set
    from aircall_pipeline.registry import state_of

    return {
        "name": account.name or SINGLE_ACCOUNT_NAME,
        "state": state_of(account),
        "partition": account.key,
        "last_sealed_day": last_sealed_day,
        "api_url": account.api_url,
        "evidence_uri": account.evidence_uri,
        "timezone": account.timezone,
        "rate_limit_per_minute": account.rate_limit_per_minute,
        "schedule_cron": account.schedule_cron,
        "roles_uri": account.roles_uri,
        "roster_uri": account.roster_uri,
        "policy_file": account.policy_file,
        # Where the key is read from, never the key: the secret's reference, or the two variables' names.
        "credentials": account.api_secret or f"{account.api_id_env}, {account.api_token_env}",
        "variables_set": {} if account.api_secret else variables_set(account.api_id_env, account.api_token_env),
        "budget": account.budget,
    }


def describe_removed(key: str, *, last_sealed_day: str | None = None) -> dict:
    """A registered account the file no longer lists: its partitions and evidence are kept, it is
    not scheduled; its settings are gone with its entry."""
    from aircall_pipeline.ingest.partitions import account_name
    from aircall_pipeline.registry import REMOVED

    return {"name": account_name(key) or SINGLE_ACCOUNT_NAME, "state": REMOVED, "partition": key,
            "last_sealed_day": last_sealed_day, **dict.fromkeys(CONFIG_FIELDS), "variables_set": {}}


def instance_view() -> tuple[set[str], dict[str, str]] | None:
    """(the registered account keys, account key -> last sealed day) from the Dagster instance of
    DAGSTER_HOME; None when there is none (DAGSTER_HOME unset or not a folder: nothing is created)
    or it cannot be read (said on stderr)."""
    import os
    import sys
    from pathlib import Path

    home = os.environ.get("DAGSTER_HOME")
    if not home or not Path(home).expanduser().is_dir():
        return None
    import dagster as dg

    from aircall_pipeline.names import ACCOUNTS_PARTITIONS
    from aircall_pipeline.registry import last_sealed_days

    try:
        with dg.DagsterInstance.get() as instance:
            return set(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS)), last_sealed_days(instance)
    except Exception as exc:  # noqa: BLE001 - the listing still helps without the instance
        print(f"The Dagster instance of DAGSTER_HOME={home} cannot be read ({type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}); states and last sealed days are shown "
              "without it.", file=sys.stderr)
        return None


def rows(settings, view: tuple[set[str], dict[str, str]] | None) -> list[dict]:
    """One row per account of the registry, in its order, then one per removed account."""
    from aircall_pipeline.registry import removed_keys

    registered, sealed = view if view is not None else (set(), {})
    listed = [describe(account, settings, last_sealed_day=sealed.get(account.key)) for account in settings.accounts]
    return listed + [describe_removed(key, last_sealed_day=sealed.get(key))
                     for key in removed_keys(settings, registered)]


def run(args: argparse.Namespace) -> int:
    import sys

    from aircall_pipeline.config.settings import Settings, SettingsError
    from aircall_pipeline.registry import REMOVED

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    for info in rows(settings, instance_view()):
        if args.json:
            print(json.dumps(info, sort_keys=True))
            continue
        print(info["name"])
        for key, value in info.items():
            if key == "name" or (info["state"] == REMOVED and key in CONFIG_FIELDS):
                continue
            if key == "variables_set":
                if not value:
                    continue
                value = ", ".join(f"{name} {'set' if ok else 'NOT SET'}" for name, ok in value.items())
            print(f"  {key:<22} {value if value is not None else '-'}")
    return EXIT_OK
