"""The alert sensors are one module each, assembled only by sensors.py: no sensor module imports
sensors.py or another sensor module (the run-failure sensor and sensors.py once imported each other),
and what a run's alert says (run_alerts.py) is shared by them, never taken from one of them."""

from __future__ import annotations

import ast
from pathlib import Path

import aircall_pipeline.operations

OPERATIONS = Path(aircall_pipeline.operations.__file__).parent
SENSOR_MODULES = ("failure_sensor", "check_sensor", "freshness_sensor", "schedule_failure_sensor", "tamper_alerts")


def operations_imports(module: str) -> set[str]:
    """The operations modules `module` imports, at the top or inside a function."""
    tree = ast.parse((OPERATIONS / f"{module}.py").read_text(encoding="utf-8"))
    prefix = "aircall_pipeline.operations."
    return {node.module[len(prefix):] for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix)}


def test_sensor_modules_import_neither_the_assembly_nor_each_other():
    for module in SENSOR_MODULES:
        imported = operations_imports(module)
        assert "sensors" not in imported, f"{module} imports sensors.py, which imports it"
        assert not imported & set(SENSOR_MODULES), f"{module} imports {sorted(imported & set(SENSOR_MODULES))}"


def test_run_alerts_is_shared_not_a_sensor():
    assert not operations_imports("run_alerts") & {"sensors", *SENSOR_MODULES}
    assert "run_alerts" in operations_imports("failure_sensor") and "run_alerts" in operations_imports("check_sensor")


def test_sensors_py_assembles_every_sensor():
    from aircall_pipeline.operations.sensors import account_sensors, run_sensors

    names = {s.name for s in run_sensors() + account_sensors()}
    assert names == {"aircall_run_failure_alert", "aircall_failed_check_alert", "aircall_evidence_freshness",
                     "aircall_schedule_failure_alert", "aircall_tamper_alert"}
