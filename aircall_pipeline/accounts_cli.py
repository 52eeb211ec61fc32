"""`aircall-pipeline accounts`, and the `--account NAME` option that check-connection, run and verify share.

Without an accounts file there is one account (the AIRCALL_* variables) and `--account` is not
needed; with one, a command acts on the only account, or says which accounts exist.
"""

from __future__ import annotations

import argparse
import json

EXIT_OK, EXIT_CONFIG = 0, 2


def add_account_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", metavar="NAME",
                        help="the account of AIRCALL_ACCOUNTS_FILE to act on (`aircall-pipeline accounts` lists them)")


def selected_account(args: argparse.Namespace):
    """(settings, account) for the command's --account; SettingsError says what is wrong."""
    from aircall_pipeline.settings import Settings

    settings = Settings.from_env()
    return settings, settings.account(getattr(args, "account", None))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "accounts",
        help="list the configured Aircall accounts, their settings and whether their variables are set",
        description="Lists every account (AIRCALL_ACCOUNTS_FILE, or the single account of the AIRCALL_* "
                    "variables) with its configuration and whether its credential variables are set. "
                    "Secrets are never printed.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per account")
    parser.set_defaults(func=run)


def describe(account, settings) -> dict:
    from aircall_pipeline.registry import state_of
    from aircall_pipeline.settings import variables_set

    return {
        "name": account.name or "(single account: AIRCALL_* variables)",
        "state": state_of(account),
        "partition": account.key,
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


def run(args: argparse.Namespace) -> int:
    import sys

    from aircall_pipeline.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"Configuration problem: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for account in settings.accounts:
        info = describe(account, settings)
        if args.json:
            print(json.dumps(info, sort_keys=True))
            continue
        print(info["name"])
        for key, value in info.items():
            if key == "name":
                continue
            if key == "variables_set":
                if not value:
                    continue
                value = ", ".join(f"{name} {'set' if ok else 'NOT SET'}" for name, ok in value.items())
            print(f"  {key:<22} {value if value is not None else '-'}")
    return EXIT_OK
