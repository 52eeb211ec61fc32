"""One set of exit codes (aircall_pipeline/commands/exit_codes.py): every command returns its numbers, none
keeps numbers of its own, and the numbers scripts rely on never change."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from aircall_pipeline.cli import COMMANDS
from aircall_pipeline.commands import exit_codes


def test_the_numbers_scripts_rely_on():
    assert (exit_codes.EXIT_OK, exit_codes.EXIT_FAILED, exit_codes.EXIT_UNUSABLE) == (0, 1, 2)
    assert (exit_codes.EXIT_AUTH, exit_codes.EXIT_RATE_LIMITED, exit_codes.EXIT_UNREACHABLE) == (3, 4, 5)
    values = [getattr(exit_codes, name) for name in exit_codes.__all__]
    assert len(values) == len(set(values)), "one name per number"


def test_every_command_takes_its_exit_codes_from_the_one_module():
    for module_name in dict.fromkeys(COMMANDS.values()):
        path = Path(importlib.import_module(module_name).__file__)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports_them = any(isinstance(n, ast.ImportFrom) and n.module == "aircall_pipeline.commands.exit_codes"
                           for n in ast.walk(tree))
        assert imports_them, f"{module_name} does not use aircall_pipeline.commands.exit_codes"
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.startswith("EXIT_")
                                                    for t in node.targets):
                # Only another name for one of the set (check-connection's EXIT_CONFIG), never a number.
                assert isinstance(node.value, ast.Name) and node.value.id in exit_codes.__all__, (
                    f"{module_name}:{node.lineno} defines an exit code of its own")
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and \
                    isinstance(node.value.value, int) and not isinstance(node.value.value, bool):
                raise AssertionError(f"{module_name}:{node.lineno} returns the bare number {node.value.value}")
