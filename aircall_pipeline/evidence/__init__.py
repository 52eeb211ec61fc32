"""The write-once evidence store (local folder or S3), its manifest, report and verification.

Plain Python except `io_manager.py` and `resource.py` (the Dagster side), which is not imported here so that the store
stays usable without loading Dagster.
"""

from aircall_pipeline.evidence.manifest import Artifact, Manifest
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError
from aircall_pipeline.evidence.verify import DayVerification

__all__ = ["Artifact", "DayVerification", "EvidenceStore", "EvidenceStoreError", "Manifest"]
