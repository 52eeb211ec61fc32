"""The one Definitions object of the project: every domain's assets, the jobs, the sensors, and the
resources wired from the environment (no credential: each account's are read at run time). One
asset graph whatever the number of accounts: the account is a partition dimension.

Dagster loads `defs` (a `@dg.definitions` function) when the code location starts; nothing here or
in the modules it imports reads the settings at import. When the environment's settings are
unusable, the definitions still load, built from the defaults, so the alert sensors keep running;
every run then fails at its first step with the `SettingsError` (the run-failure alert says
`config`), and so does every tick of the daily scheduler (it reads the settings when it ticks).
"""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from aircall_pipeline.aircall.budget import redact_url
from aircall_pipeline.compliance.assets import build_compliance_assets
from aircall_pipeline.compliance.owner_assets import build_owner_inputs_asset
from aircall_pipeline.compliance.report_assets import build_report_asset
from aircall_pipeline.compliance.review_assets import build_review_observation, build_review_sensor
from aircall_pipeline.config.settings import (
    LIMITER_URL_VAR,
    TSA_URL_VAR,
    Settings,
    SettingsError,
    shown_url,
)
from aircall_pipeline.ingest.assets import build_raw_assets
from aircall_pipeline.ingest.partitions import partitions_for
from aircall_pipeline.names import (
    ACCOUNTS_RESOURCE,
    AIRCALL_RESOURCE,
    COMPLIANCE_RESOURCE,
    EVIDENCE_RESOURCE,
    IO_MANAGER,
    report_key,
)
from aircall_pipeline.operations.definitions import build_operations
from aircall_pipeline.operations.freshness import apply_freshness
from aircall_pipeline.registry import AccountsResource
from aircall_pipeline.resources.aircall import AircallResource
from aircall_pipeline.resources.compliance import ComplianceResource
from aircall_pipeline.resources.evidence import EvidenceResource
from aircall_pipeline.resources.evidence_io_manager import EvidenceIOManager


class UnusableSettings(dg.ConfigurableIOManager):
    """Stands in for the evidence IO manager when the settings are unusable: every asset writes
    through the IO manager, so every run fails at its first step with the settings' error."""

    problem: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        raise SettingsError(self.problem)

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        raise SettingsError(self.problem)

    def load_input(self, context: dg.InputContext):
        raise SettingsError(self.problem)


def build_resources(settings: Settings) -> dict:
    """The resources, under their fixed keys; the account of a run is chosen at run time from its
    partition (registry.AccountsResource), so nothing here depends on the accounts. Tests call this
    with their own settings."""
    # boto3 defaults: AWS_ENDPOINT_URL_S3, AWS_REGION and credentials come from the usual AWS_* variables.
    s3 = S3Resource(max_attempts=3)
    evidence = EvidenceResource(
        s3=s3,
        signing_key=settings.signing_key,
        # A TSA URL with a ?query (an access key, for some TSAs) reaches the resource as an EnvVar, so the
        # UI and run snapshots show the variable's name only.
        tsa_urls=(dg.EnvVar(TSA_URL_VAR) if any(shown_url(u) != u for u in settings.tsa_urls)
                  else " ".join(settings.tsa_urls)),
        retention_days=settings.retention_days,
        retention_mode=settings.retention_mode,
    )
    accounts = AccountsResource()
    # A limiter URL holding a password (redis://:pw@host, ?password=) reaches the resource as an
    # EnvVar: the UI and the stored snapshot then show the variable's name, never the password.
    limiter_url = (dg.EnvVar(LIMITER_URL_VAR) if redact_url(settings.limiter_url) != settings.limiter_url
                   else settings.limiter_url)
    return {
        ACCOUNTS_RESOURCE: accounts,
        # No credential here: each account's are read at run time (settings.credentials_from_env).
        AIRCALL_RESOURCE: AircallResource(limiter_url=limiter_url,
                                          rate_limit_window_seconds=settings.rate_limit_window_seconds),
        IO_MANAGER: EvidenceIOManager(evidence=evidence, accounts=accounts),
        EVIDENCE_RESOURCE: evidence,
        COMPLIANCE_RESOURCE: ComplianceResource(s3=s3),
    }


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """The assets, the same set whatever the number of accounts."""
    partitions = partitions_for(settings)
    return [*build_raw_assets(partitions, days_per_run=settings.backfill_days_per_run,
                              history_days=settings.history_days),
            build_owner_inputs_asset(partitions), *build_compliance_assets(partitions),
            build_report_asset(partitions), build_review_observation()]


def build_defs(settings: Settings, *, problem: str | None = None) -> dg.Definitions:
    """The definitions for `settings` (the only entry point: everything that depends on the settings
    is built here); with `problem` (an unusable environment), every run fails at its first step with
    that error. The same objects whatever the number of accounts: the accounts are data (the
    registry, read at run and tick time) and partitions, never definitions."""
    resources = build_resources(settings)
    if problem is not None:
        resources[IO_MANAGER] = UnusableSettings(problem=problem)
    # With unusable settings the stores the review sensor would watch are not the configured ones.
    sensors = [build_review_sensor()] if problem is None else []
    merged = dg.Definitions.merge(
        # In process by default too, as the two jobs are: the UI's materializations and asset
        # backfills (`aircall-pipeline backfill`) run as the implicit asset job, and a process per
        # step would add seconds of start-up to each backfill chunk for no isolation we need.
        dg.Definitions(assets=build_assets(settings), resources=resources, sensors=sensors,
                       executor=dg.in_process_executor),
        build_operations(settings),
    )
    # Cross-cutting policy in one place: every account's evidence must be younger than its policy.
    return apply_freshness(merged, selection=dg.AssetSelection.assets(report_key()))


def load_defs() -> dg.Definitions:
    """The definitions for this environment, whatever it holds (see the module docstring)."""
    try:
        return build_defs(Settings.from_env())
    except SettingsError as exc:
        return build_defs(Settings.defaults(), problem=str(exc))


@dg.definitions
def defs() -> dg.Definitions:
    return load_defs()
