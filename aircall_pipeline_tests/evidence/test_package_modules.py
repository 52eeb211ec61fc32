"""The audit package's modules: checking a package offline needs none of the building side (no
store, no OSCAL builder), and the member names are defined once."""

from __future__ import annotations

import ast
from pathlib import Path

from aircall_pipeline.evidence import package, package_layout, package_summary, package_verify
from aircall_pipeline_tests.imports import imported_modules

EVIDENCE = Path(package.__file__).parent


def _project_imports(path: Path) -> set[str]:
    return {n for n in imported_modules(path) if n.startswith("aircall_pipeline")}


def test_verifying_a_package_needs_none_of_the_building_side():
    imported = _project_imports(EVIDENCE / "package_verify.py")
    assert "aircall_pipeline.evidence.package_layout" in imported
    building = {"aircall_pipeline.evidence.package", "aircall_pipeline.evidence.package_summary",
                "aircall_pipeline.evidence.store", "aircall_pipeline.names"}
    assert not imported & building
    assert not {n for n in imported if n.startswith("aircall_pipeline.compliance")}


def test_member_names_are_defined_once():
    for module in (package, package_summary, package_verify):
        for name in ("MANIFEST", "SIGNATURE", "OSCAL", "EVIDENCE", "FORMAT"):
            if hasattr(module, name):
                assert getattr(module, name) is getattr(package_layout, name)
    for path in ("package.py", "package_summary.py", "package_verify.py"):
        tree = ast.parse((EVIDENCE / path).read_text())
        assigned = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        assert not assigned & set(vars(package_layout)), path


def test_the_build_and_the_check_are_one_name_away():
    assert package.verify_package is package_verify.verify_package
    assert package.summary_csv is package_summary.summary_csv
