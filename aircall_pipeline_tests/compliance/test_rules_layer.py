"""The rules are a library: pure functions the asset layer, re-performance and the CLI call. They import
no Dagster and none of the app's configuration, and nothing under compliance/ reaches into operations/
(the sensors depend on the compliance rules, never the other way round)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aircall_pipeline
from aircall_pipeline.compliance import rules
from aircall_pipeline_tests.imports import imported_modules

PACKAGE = Path(aircall_pipeline.__file__).parent
APP_CONFIGURATION = ("settings", "accounts", "credentials", "registry", "definitions", "sandbox")


def test_no_rule_module_imports_dagster_or_the_app_configuration():
    forbidden = {"dagster", *(f"aircall_pipeline.{name}" for name in APP_CONFIGURATION), "aircall_pipeline.operations"}
    for path in sorted((PACKAGE / "compliance" / "rules").glob("*.py")):
        bad = {m for m in imported_modules(path) if any(m == f or m.startswith(f + ".") for f in forbidden)}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_importing_the_rules_loads_no_dagster():
    code = "import sys, aircall_pipeline.compliance.rules; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_nothing_under_compliance_imports_operations():
    for path in sorted((PACKAGE / "compliance").rglob("*.py")):
        bad = {m for m in imported_modules(path) if m.startswith("aircall_pipeline.operations")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_rules_package_exports_public_names_only():
    assert rules.__all__ and not [name for name in rules.__all__ if name.startswith("_")]
    assert all(hasattr(rules, name) for name in rules.__all__)
    # AC-11, AC-15 and AC-16 are rules like the others, each decided in one module of rules/.
    assert rules.webhook_egress.__module__ == "aircall_pipeline.compliance.rules.egress"
    assert rules.is_stale.__module__ == rules.evidence_freshness.__module__ == "aircall_pipeline.compliance.rules.freshness"
    assert rules.access_review.__module__ == "aircall_pipeline.compliance.rules.access_review"
