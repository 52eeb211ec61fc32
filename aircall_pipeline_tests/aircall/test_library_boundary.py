"""The Aircall client is a plain library: it imports no Dagster, nothing of the app's configuration
(settings, accounts, credentials, registry, definitions, the CLIs) and not the sandbox; inside it, no
module imports the package's own __init__ (which imports them all: a cycle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import aircall_pipeline.aircall as aircall

PACKAGE = Path(aircall.__file__).parent
# What the library may use from the rest of the project: leaf helpers with no project imports.
ALLOWED_OUTSIDE = {"aircall_pipeline.timestamps", "aircall_pipeline.version", "aircall_pipeline.redaction"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in `path`, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, [a.name for a in node.names]))
    return found


def test_the_library_imports_only_itself_and_leaf_helpers():
    outside = {}
    for path in sorted(PACKAGE.glob("*.py")):
        for module, _ in _imports(path):
            top = module.split(".")[0]
            if top == "dagster" or top.startswith("dagster_"):
                outside.setdefault(path.name, []).append(module)
            elif module.startswith("aircall_pipeline") and not module.startswith("aircall_pipeline.aircall") \
                    and module not in ALLOWED_OUTSIDE:
                outside.setdefault(path.name, []).append(module)
    assert outside == {}


def test_no_module_of_the_library_imports_its_package():
    bad = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for module, names in _imports(path):
            if module == "aircall_pipeline.aircall":
                bad.setdefault(path.name, []).extend(names)
    assert bad == {}  # name the submodule (`aircall_pipeline.aircall.windows`), never the package


def test_importing_the_library_loads_no_app_configuration():
    code = (
        "import sys, aircall_pipeline.aircall\n"
        "app = ('config', 'commands', 'registry', 'definitions', 'sandbox', 'cli')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster')"
        " or m.split('.')[:2] in [['aircall_pipeline', a] for a in app]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_configuration_takes_the_api_url_check_from_the_library():
    from aircall_pipeline.aircall import api_url
    from aircall_pipeline.config import settings

    assert settings.DEFAULT_API_URL is api_url.DEFAULT_API_URL
    assert settings.is_loopback_host is api_url.is_loopback_host
    tree = ast.parse(Path(settings.__file__).read_text())
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert not defined & {"is_loopback_host", "shown_url"}  # one home: aircall/api_url.py
