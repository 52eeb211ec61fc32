"""The compliance policy as a Dagster resource: thresholds from AIRCALL_POLICY_FILE, and the two
inputs the Aircall API cannot give (who is an admin, who has left) from files the owner provides."""


from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pandas as pd
from dagster_aws.s3 import S3Resource

from aircall_pipeline.compliance.policy import MAX_INPUT_BYTES, CompliancePolicy, load_roles, load_roster


class ComplianceResource(dg.ConfigurableResource):
    """Where the compliance policy, the roles export and the HR/IdP roster live."""

    policy_file: str | None = None
    roles_uri: str | None = None
    roster_uri: str | None = None
    s3: dg.ResourceDependency[S3Resource]

    def policy(self) -> CompliancePolicy:
        policy = CompliancePolicy.from_file(self.policy_file) if self.policy_file else CompliancePolicy()
        return replace(policy, roles_uri=self.roles_uri or policy.roles_uri,
                       roster_uri=self.roster_uri or policy.roster_uri)

    def read_bytes(self, uri: str) -> bytes:
        """The file's bytes, at most one past the size cap (the loaders refuse larger files)."""
        parts = urlsplit(uri)
        if parts.scheme == "s3":
            body = self.s3.get_client().get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"]
            return body.read(MAX_INPUT_BYTES + 1)
        with Path(uri).expanduser().open("rb") as fh:
            return fh.read(MAX_INPUT_BYTES + 1)

    def roles(self, policy: CompliancePolicy) -> pd.DataFrame | None:
        return load_roles(policy.roles_uri, read_bytes=self.read_bytes) if policy.roles_uri else None

    def roster(self, policy: CompliancePolicy) -> pd.DataFrame | None:
        return load_roster(policy.roster_uri, read_bytes=self.read_bytes) if policy.roster_uri else None
