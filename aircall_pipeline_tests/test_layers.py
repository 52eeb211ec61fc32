"""The layers a newcomer reads in docs/architecture.md are the code's: the module map lists every module
and nothing else, no module is over 600 lines, no two modules import each other (directly or round a
loop), and `make lint` runs the import-linter contract that states the layers."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "aircall_pipeline"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that `name` imports, at any depth of its code (lazy imports count: a
    function-level import that closes a loop is still a loop, only deferred)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_cycle():
    """A package's __init__ re-exporting a submodule that imports the package back counts too."""
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


_MODULE = re.compile(r"^[a-z0-9_]+(?:\.py|/)$")


def _documented_modules() -> set[str]:
    """The files of the module map in docs/architecture.md, as paths under aircall_pipeline/."""
    text = (REPO / "docs" / "architecture.md").read_text()
    block = text.split("## Modules", 1)[1].split("```", 2)[1]
    folders: list[tuple[int, str]] = []
    listed = set()
    for line in block.splitlines():
        if not line.strip() or line.strip() == "aircall_pipeline/":
            continue
        indent = len(line) - len(line.lstrip())
        # Names start a line, or follow a run of spaces on a line that lists several
        # ("user_inventory.py AC-01   privileged_access.py AC-02"); prose continues a line deeper in.
        tokens = [(indent, line.split()[0])] + [
            (m.start(1), m.group(1)) for m in re.finditer(r" {2,}(\S+)", line[indent:])]
        if not _MODULE.match(tokens[0][1]):
            continue
        while folders and folders[-1][0] >= indent:
            folders.pop()
        prefix = "".join(name for _, name in folders)
        for _, token in tokens:
            if not _MODULE.match(token):
                continue
            if token.endswith("/"):
                folders.append((indent, token))
            else:
                listed.add(prefix + token)
    return listed


def test_the_module_map_lists_every_module_and_nothing_else():
    actual = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    documented = _documented_modules()
    assert sorted(actual - documented) == [], "modules missing from docs/architecture.md's module map"
    assert sorted(documented - actual) == [], "docs/architecture.md lists modules that do not exist"


def test_make_lint_runs_the_layer_contract_and_it_is_kept():
    makefile = (REPO / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "lint-imports" in lint
    assert re.search(r"\ntest:[^\n]*\blint\b", makefile), "make test must run make lint"
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    names = " ".join(c["name"] for c in contracts).lower()
    assert "sandbox" in names and "dagster" in names
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_contract_names_real_modules():
    """A contract over a module that was renamed away would pass vacuously."""
    modules = _modules()
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    named = {m for c in contracts for m in c["source_modules"] + c["forbidden_modules"]
             if m.startswith("aircall_pipeline")}
    assert sorted(m for m in named if m not in modules) == []
