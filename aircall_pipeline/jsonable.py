"""Values as JSON holds them: the one conversion of what checks, pandas and alerts hand us.

`to_jsonable` is strict, for everything the pipeline writes as evidence (manifest.json, checks.json,
records.jsonl) and sends (alert payloads, sensor cursors): NaN/inf become null (JSON has no NaN),
numpy/pandas scalars Python numbers, timestamps ISO-8601 UTC strings, sets sorted lists, anything
else unknown its `str`.

`json_dumps_round_trip` is the older, looser reading (`json.dumps(default=str)`, read back) kept for
one record only: the items of a check (`compliance.rule_table.outcome_record`), whose timestamps
sealed checks.json files have always held as `str(timestamp)` ("2026-03-01 00:00:00+00:00"), so that
the evidence of every day reads alike.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aircall_pipeline.timestamps import iso_utc


def to_jsonable(value: Any) -> Any:
    """Turn what checks and pandas hand us into strict JSON values.

    NaN/inf become null (JSON has no NaN), numpy scalars become Python numbers, timestamps become
    ISO-8601 UTC strings, sets are sorted, anything else unknown becomes its `str`.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return to_jsonable(float(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((to_jsonable(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    # numpy / pandas scalars without importing them here.
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return to_jsonable(item())
        except (TypeError, ValueError):
            pass
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        try:
            return to_jsonable(value.to_pydatetime()) if hasattr(value, "to_pydatetime") else isoformat()
        except (TypeError, ValueError):
            pass
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def json_dumps_round_trip(value: Any) -> Any:
    """`value` as `json.dumps(value, default=str)` writes it, read back: what JSON does not know
    becomes its `str`, a NaN stays a NaN (`to_jsonable` then makes it null)."""
    return json.loads(json.dumps(value, default=str))
