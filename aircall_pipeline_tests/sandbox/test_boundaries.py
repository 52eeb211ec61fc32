"""Where the sandbox sits: it may use the pipeline (the aircall package, settings), the pipeline never
uses it, and inside it the server and the account sit on top of small modules that know neither."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aircall_pipeline
from aircall_pipeline_tests.imports import imported_modules

PACKAGE = Path(aircall_pipeline.__file__).resolve().parent
SANDBOX = PACKAGE / "sandbox"
MAX_LINES = 600
# The modules the server and the account are built from: none may import either of them back.
BUILDING_BLOCKS = ("call_lifecycle", "calls", "faults", "pagination", "rate_limit", "responses", "stats",
                   "transport", "vocabulary", "webhooks")


def test_no_module_outside_the_sandbox_imports_it():
    # The command line registers its `sandbox` subcommand by module name (aircall_pipeline/cli.py),
    # importing it only when the command runs; no module imports the sandbox itself.
    importers = [
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in sorted(PACKAGE.rglob("*.py")) if SANDBOX not in path.parents
        for module in sorted(imported_modules(path))
        if module == "aircall_pipeline.sandbox" or module.startswith("aircall_pipeline.sandbox.")
    ]
    assert importers == []


def test_the_building_blocks_import_neither_the_server_nor_the_account():
    upward = {"aircall_pipeline.sandbox.server", "aircall_pipeline.sandbox.data", "aircall_pipeline.sandbox.cli"}
    found = {
        name: sorted(imported_modules(SANDBOX / f"{name}.py") & upward)
        for name in BUILDING_BLOCKS
    }
    assert {name: imports for name, imports in found.items() if imports} == {}


def test_every_sandbox_module_is_under_the_size_limit():
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in SANDBOX.glob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines >= MAX_LINES} == {}


def test_the_sandbox_runs_without_dagster():
    # Demos, benchmarks and client tests start it on its own; it must not pull the orchestrator in.
    code = ("import sys, aircall_pipeline.sandbox, aircall_pipeline.sandbox.cli; "
            "print(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent)
    assert result.stdout.strip() == "[]"
