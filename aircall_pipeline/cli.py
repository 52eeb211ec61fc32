"""`aircall-pipeline`: the command line. Each subcommand lives with the code it drives and is
registered here by name, imported lazily so `--help` stays fast and one broken part cannot hide
the others."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> module exposing `register(subparsers)`, which adds its subparsers and sets `func(args) -> int`.
COMMANDS = {
    "check-connection": "aircall_pipeline.commands.check_connection",
    "run": "aircall_pipeline.commands.run",
    "backfill": "aircall_pipeline.commands.backfill",
    "sandbox": "aircall_pipeline.sandbox.cli",
    "verify": "aircall_pipeline.commands.verify",
    "keygen": "aircall_pipeline.commands.verify",
    "package": "aircall_pipeline.commands.package",
    "verify-package": "aircall_pipeline.commands.package",
    "review": "aircall_pipeline.commands.review",
    "accounts": "aircall_pipeline.commands.accounts",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aircall-pipeline",
        description="Aircall account -> daily, verifiable compliance evidence (Dagster).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in dict.fromkeys(COMMANDS.values()):  # a module may register several commands
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
