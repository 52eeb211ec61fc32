"""The write-once evidence store (local folder or S3), its manifest, report and verification.

Import from the modules themselves (`evidence.store.EvidenceStore`, `evidence.verify.verify_range`,
`evidence.manifest.Manifest`, ...): this package imports none of them, so that importing any one
module (say `layout`) loads only what that module needs, and no module here can import back into a
package that imports it. Plain Python: the Dagster side of the store is in `resources/` (evidence.py,
evidence_io_manager.py).
"""
