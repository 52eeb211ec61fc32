"""`records.jsonl`: one flat record per check of a sealed day, for tools that load rows, not documents.

A GRC platform, a SIEM or a spreadsheet takes one JSON object per line with scalar values only (no
nested object to flatten, no list to explode): controls are joined with ",", the observed figure is
its JSON text when the check recorded a structure. Each record names the findings table that holds
the check's items (path and SHA-256) and the manifest that lists and signs this file, so a row taken
out of the folder still says where it can be proven.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aircall_pipeline.evidence.manifest import Artifact
from aircall_pipeline.jsonable import to_jsonable

SCALARS = (str, int, float, bool, type(None))


def scalar(value: Any) -> str | int | float | bool | None:
    """A value as a record holds it: scalars as they are, anything else as compact JSON text."""
    value = to_jsonable(value)
    if isinstance(value, SCALARS):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def check_record(day: str, attempt: int, check: Mapping[str, Any], findings: Artifact | None,
                 manifest_uri: str) -> dict[str, Any]:
    items = check.get("items_total")
    return {
        "date": day,
        "attempt": attempt,
        "check_id": str(check["id"]),
        "check": scalar(check.get("name")),
        "controls": ",".join(map(str, check.get("controls") or [])),
        "status": str(check["status"]),
        "observed": scalar(check.get("observed")),
        "threshold": scalar(check.get("threshold")),
        # How many items the check flagged (its producer's count, which may exceed the items it kept).
        "findings": int(items) if isinstance(items, int | float) else len(check.get("items") or []),
        "evidence_path": findings.path if findings else None,
        "evidence_sha256": findings.sha256 if findings else None,
        "manifest_uri": manifest_uri,
    }


def records_bytes(day: str, attempt: int, checks: Sequence[Mapping[str, Any]],
                  findings_tables: Mapping[str, Artifact], manifest_uri: str) -> bytes:
    """The file: one record per check, in the checks' order, one compact JSON object per line."""
    lines = [json.dumps(check_record(day, attempt, c, findings_tables.get(str(c["id"])), manifest_uri),
                        sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
             for c in checks]
    return "".join(line + "\n" for line in lines).encode("utf-8")
