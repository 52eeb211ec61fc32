"""One conversion of values to JSON (aircall_pipeline/jsonable.py): what it makes of what checks,
pandas and alerts hand it, and that no other module keeps a converter of its own."""

from __future__ import annotations

import ast
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

import aircall_pipeline
from aircall_pipeline.compliance import catalogue, rules
from aircall_pipeline.compliance.rule_table import outcome_record
from aircall_pipeline.evidence import manifest
from aircall_pipeline.jsonable import json_dumps_round_trip, to_jsonable
from aircall_pipeline.operations.alerts import Alert

PACKAGE = Path(aircall_pipeline.__file__).parent


def test_to_jsonable_makes_strict_json_of_what_pandas_and_checks_hand_it():
    value = {
        1: datetime(2026, 3, 1, 5, tzinfo=UTC), "day": date(2026, 3, 1), "money": Decimal("1.5"),
        "n": np.int64(2**62), "x": np.float64(0.25), "flag": np.bool_(True), "nan": float("nan"),
        "inf": float("inf"), "ts": pd.Timestamp("2026-03-01T05:00", tz="UTC"), "na": pd.NA,
        "set": {"b", "a"}, "tuple": (1, "2"), "nested": [{"deep": np.int32(3)}],
    }
    out = to_jsonable(value)
    assert out == {
        "1": "2026-03-01T05:00:00Z", "day": "2026-03-01", "money": 1.5, "n": 2**62, "x": 0.25, "flag": True,
        "nan": None, "inf": None, "ts": "2026-03-01T05:00:00Z", "na": None, "set": ["a", "b"],
        "tuple": [1, "2"], "nested": [{"deep": 3}],
    }
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert type(out["n"]) is int and type(out["flag"]) is bool


def test_the_check_record_keeps_the_sealed_checks_json_format():
    # Items of a check hold their timestamps as str(timestamp), as every sealed checks.json has.
    assert json_dumps_round_trip({"at": pd.Timestamp("2026-03-01", tz="UTC"), "n": 2}) == {
        "at": "2026-03-01 00:00:00+00:00", "n": 2}
    stale = rules.evidence_freshness(pd.Timestamp("2026-02-27T08:00Z"), as_of=pd.Timestamp("2026-03-01T00:00Z"))
    record = outcome_record(stale)
    assert record["id"] == catalogue.AC_15.check_id and record["status"] == catalogue.FAIL
    assert record["observed"] == 40.0
    assert record["items"][0]["collected_at"] == "2026-02-27 08:00:00+00:00"


def test_evidence_and_alerts_use_the_one_converter():
    assert manifest.to_jsonable is to_jsonable
    alert = Alert(title="t", severity="error", kind="other", text="x",
                  details={"when": datetime(2026, 3, 1, tzinfo=UTC), "n": np.int64(3), "nan": float("nan")})
    assert alert.as_payload()["details"] == {"when": "2026-03-01T00:00:00Z", "n": 3, "nan": None}


def test_no_other_module_converts_values_to_json_its_own_way():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "jsonable.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and "json" in node.name.lower() and (
                    "able" in node.name or "default" in node.name):
                offenders.append(f"{path.relative_to(PACKAGE)}: def {node.name}")
            if isinstance(node, ast.keyword) and node.arg == "default" and isinstance(node.value, ast.Name) \
                    and node.value.id == "str":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.value.lineno}: default=str")
    assert not offenders, offenders
