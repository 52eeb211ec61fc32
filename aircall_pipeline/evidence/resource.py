"""Dagster access to the evidence store for assets that read history or write the day's report
(the IO manager covers plain table outputs)."""


import dagster as dg
from dagster_aws.s3 import S3Resource

from aircall_pipeline.evidence.io_manager import s3_client_from_resource
from aircall_pipeline.evidence.store import EvidenceStore


class EvidenceResource(dg.ConfigurableResource):
    """The write-once evidence store at EVIDENCE_URI: `s3://bucket/prefix` or a local folder."""

    evidence_uri: str
    s3: dg.ResourceDependency[S3Resource]

    def store(self) -> EvidenceStore:
        # The same bounded retries and timeouts as the IO manager: a dead endpoint fails in seconds.
        client = s3_client_from_resource(self.s3) if self.evidence_uri.startswith("s3://") else None
        return EvidenceStore.from_uri(self.evidence_uri, s3_client=client)
