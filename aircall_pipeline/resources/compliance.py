"""The compliance policy as a Dagster resource: thresholds from AIRCALL_POLICY_FILE, and the two
inputs the Aircall API cannot give (who is an admin, who has left) from files the owner provides.

The checks never read these files themselves: the owner-inputs asset reads them once a day
(`owner_tables`) and seals them as the day's owner tables, which the checks then judge."""

from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
from dagster_aws.s3 import S3Resource

from aircall_pipeline.compliance.owner_inputs import OwnerTables, collect_owner_inputs
from aircall_pipeline.config.policy import MAX_INPUT_BYTES
from aircall_pipeline.config.settings import Account


class ComplianceResource(dg.ConfigurableResource):
    """Where the compliance policy, the roles export and the HR/IdP roster live; `for_account(account)`
    gives the account's own."""

    policy_file: str | None = None
    roles_uri: str | None = None
    roster_uri: str | None = None
    s3: dg.ResourceDependency[S3Resource]

    def for_account(self, account: Account) -> "ComplianceResource":
        """This resource with the account's policy file, roles and roster (the accounts file's, or the
        AIRCALL_* variables')."""
        return ComplianceResource(policy_file=account.policy_file, roles_uri=account.roles_uri,
                                  roster_uri=account.roster_uri, s3=self.s3)

    def owner_tables(self) -> OwnerTables:
        """The policy in force (the file's, with this resource's roles_uri / roster_uri first), the roles
        and the roster, with each file's hash and any error, as the day's owner tables."""
        return collect_owner_inputs(self.policy_file, roles_uri=self.roles_uri, roster_uri=self.roster_uri,
                                    read_bytes=self.read_bytes)

    def read_bytes(self, uri: str) -> bytes:
        """The file's bytes, at most one past the size cap (the loaders refuse larger files)."""
        parts = urlsplit(uri)
        if parts.scheme == "s3":
            body = self.s3.get_client().get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"]
            return body.read(MAX_INPUT_BYTES + 1)
        with Path(uri).expanduser().open("rb") as fh:
            return fh.read(MAX_INPUT_BYTES + 1)
