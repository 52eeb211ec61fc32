"""The write-once evidence store (local folder or S3), its manifest, report and verification.

Plain Python except `io_manager.py` (the Dagster side), which is not imported here so that the store
stays usable without loading Dagster.
"""

from aircall_pipeline.evidence.manifest import Artifact, Manifest, Verification
from aircall_pipeline.evidence.store import EvidenceStore, EvidenceStoreError

__all__ = ["Artifact", "EvidenceStore", "EvidenceStoreError", "Manifest", "Verification"]
