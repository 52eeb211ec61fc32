"""The write-once evidence store (local folder or S3), its manifest, report and verification.

Plain Python except `io_manager.py` and `resource.py` (the Dagster side), which is not imported here so that the store
stays usable without loading Dagster.

The names below are imported on first use: the configuration imports `evidence.variables` (the
names of the evidence variables) and must not load the store, pandas and the PDF report with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aircall_pipeline.evidence.manifest import Artifact, Manifest
    from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
    from aircall_pipeline.evidence.verify import DayVerification

_HOMES = {"Artifact": "manifest", "Manifest": "manifest", "EvidenceStore": "store", "EvidenceStoreError": "store",
          "DayVerification": "verify"}

__all__ = ["Artifact", "DayVerification", "EvidenceStore", "EvidenceStoreError", "Manifest"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
