"""Every command's exit statuses come from the one set in exit_codes.py: a script branching on
`aircall-pipeline ...`'s status reads the same meaning whatever the command."""

import ast
from pathlib import Path

from aircall_pipeline import exit_codes

PACKAGE = Path(exit_codes.__file__).parent


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "exit_codes.py":
            yield path, ast.parse(path.read_text(), str(path))


def test_no_module_defines_exit_statuses_of_its_own():
    own = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            own += [f"{path.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names if n.startswith("EXIT_")]
    assert own == []


def test_commands_return_named_statuses_not_numbers():
    """A `run(args)` (each command's entry point, cli.py) returns a name from exit_codes, never a bare 0-5."""
    bare = []
    for path, tree in _modules():
        for func in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in ("run", "main")):
            for ret in (n for n in ast.walk(func) if isinstance(n, ast.Return)):
                if isinstance(ret.value, ast.Constant) and isinstance(ret.value.value, int):
                    bare.append(f"{path.relative_to(PACKAGE)}:{ret.lineno} return {ret.value.value}")
    assert bare == []


def test_the_statuses_are_distinct_and_documented():
    statuses = {name: value for name, value in vars(exit_codes).items() if name.startswith("EXIT_")}
    assert sorted(statuses.values()) == list(range(len(statuses)))
    for name in statuses:
        assert f"`{name}`" in exit_codes.__doc__
