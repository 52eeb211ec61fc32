"""Dagster access to the evidence store: one resource holds where the evidence lives, how it is
locked and how manifests are signed; the IO manager and the assets that read history or write the
day's report all go through it."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from aircall_pipeline.config.settings import Account, parse_tsa_urls
from aircall_pipeline.evidence.backends import Retention
from aircall_pipeline.evidence.s3_client import s3_client_from_resource
from aircall_pipeline.evidence.signing import Signer, cached_signer
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.evidence.timestamping import timestamper


def resolved_uri(uri: str) -> str:
    """A local evidence folder as an absolute path, so every process writes to the same place."""
    return uri if "://" in uri else str(Path(uri).expanduser().resolve())


class EvidenceResource(dg.ConfigurableResource):
    """Every account's write-once evidence store: `store_for(account)` is the store at the account's
    `evidence_uri` (`s3://bucket/prefix` or a local folder), the same as before accounts were data.
    `evidence_uri`: a fixed store, for direct use (`store()`) outside the pipeline's assets.

    `signing_key`: `file:PATH` or `awskms:KEY_ID_OR_ARN` (EVIDENCE_SIGNING_KEY), a reference to the
    key, never the key itself. `tsa_urls`: RFC 3161 authorities (EVIDENCE_TSA_URL: space- or
    comma-separated, tried in order) that stamp each signed manifest's statement. `retention_days` / `retention_mode`: S3 Object Lock
    on every object.
    """

    evidence_uri: str = ""
    s3: dg.ResourceDependency[S3Resource]
    signing_key: str | None = None
    tsa_urls: str = ""
    retention_days: int | None = None
    retention_mode: str = "compliance"
    _signer: Signer | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A key that is missing, malformed, of the wrong type or not allowed to sign fails the run
        # here, when its first step starts, before any evidence is written.
        self._signer = cached_signer(self.signing_key) if self.signing_key else None
        # An unusable TSA URL fails here too; whether a TSA answers is only known when sealing.
        parse_tsa_urls(self.tsa_urls)

    def signer(self) -> Signer | None:
        if self._signer is None and self.signing_key:
            self._signer = cached_signer(self.signing_key)
        return self._signer

    def timestamper(self) -> Callable[[bytes], bytes] | None:
        """Stamps a manifest's signed statement (see evidence/timestamping.py); None without TSAs."""
        urls = parse_tsa_urls(self.tsa_urls)
        return timestamper(urls) if urls else None

    def store(self, uri: str | None = None) -> EvidenceStore:
        """The store at `uri` (default: this resource's `evidence_uri`)."""
        uri = resolved_uri(uri or self.evidence_uri)
        # The same bounded retries and timeouts everywhere: a dead endpoint fails a step in seconds.
        is_s3 = uri.strip().startswith("s3://")
        retention = Retention(self.retention_days, self.retention_mode) if self.retention_days else None
        return EvidenceStore.from_uri(
            uri, s3_client=s3_client_from_resource(self.s3) if is_s3 else None, retention=retention
        )

    def store_for(self, account: Account) -> EvidenceStore:
        """The account's evidence store (its `evidence_uri`)."""
        return self.store(account.evidence_uri)
