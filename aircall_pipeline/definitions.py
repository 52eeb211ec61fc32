"""The one Definitions object of the project: every domain's assets, the job, schedules, sensors,
and the resources wired from the environment (credentials only as EnvVar names).

Dagster loads `defs` (a `@dg.definitions` function) when the code location starts; nothing here or
in the modules it imports reads the settings at import. When the environment's settings are
unusable, the definitions still load, built from the defaults, so the alert sensors keep running;
every run then fails at its first step with the `SettingsError` (the run-failure alert says
`config`), and so does every tick of the daily schedule (it reads the settings when it ticks).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from aircall_pipeline.aircall.budget import redact_url
from aircall_pipeline.compliance.assets import build_compliance_assets
from aircall_pipeline.compliance.owner_assets import build_owner_inputs_asset
from aircall_pipeline.compliance.report_assets import build_report_asset
from aircall_pipeline.compliance.resources import ComplianceResource
from aircall_pipeline.compliance.review_assets import build_review_observation, build_review_sensor
from aircall_pipeline.evidence.io_manager import EvidenceIOManager
from aircall_pipeline.evidence.resource import EvidenceResource
from aircall_pipeline.ingest.assets import build_raw_assets
from aircall_pipeline.ingest.partitions import partitions_for
from aircall_pipeline.ingest.resource import AircallResource
from aircall_pipeline.names import Names
from aircall_pipeline.operations.definitions import build_account_operations
from aircall_pipeline.operations.freshness import apply_freshness
from aircall_pipeline.operations.sensors import run_sensors
from aircall_pipeline.settings import (
    LIMITER_URL_VAR,
    TSA_URL_VAR,
    Account,
    Settings,
    SettingsError,
    shown_url,
)


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


def account_resources(account: Account, settings: Settings) -> dict:
    """One account's resources, under its resource keys (names.py)."""
    names = Names(account.name)
    # A local evidence folder is pinned to an absolute path here, so the code server, run workers and
    # the CLI all write to the same place whatever their working directory.
    uri = account.evidence_uri
    evidence_uri = uri if "://" in uri else str(Path(uri).expanduser().resolve())
    # boto3 defaults: AWS_ENDPOINT_URL_S3, AWS_REGION and credentials come from the usual AWS_* variables.
    s3 = S3Resource(max_attempts=3)
    evidence = EvidenceResource(
        evidence_uri=evidence_uri,
        s3=s3,
        signing_key=settings.signing_key,
        # A TSA URL with a ?query (an access key, for some TSAs) reaches the resource as an EnvVar, so the
        # UI and run snapshots show the variable's name only.
        tsa_urls=(dg.EnvVar(TSA_URL_VAR) if any(shown_url(u) != u for u in settings.tsa_urls)
                  else " ".join(settings.tsa_urls)),
        retention_days=settings.retention_days,
        retention_mode=settings.retention_mode,
    )
    # A limiter URL holding a password (redis://:pw@host, ?password=) reaches the resource as an
    # EnvVar: the UI and the stored snapshot then show the variable's name, never the password.
    limiter_url = (dg.EnvVar(LIMITER_URL_VAR) if redact_url(settings.limiter_url) != settings.limiter_url
                   else settings.limiter_url)
    return {
        names.resource("aircall"): AircallResource(
            api_id=dg.EnvVar(account.api_id_env),
            api_token=dg.EnvVar(account.api_token_env),
            api_url=account.api_url,
            rate_limit_per_minute=account.rate_limit_per_minute,
            rate_limit_window_seconds=settings.rate_limit_window_seconds,
            limiter_url=limiter_url,
            budget_name=names.budget,
        ),
        names.resource("io_manager"): EvidenceIOManager(evidence=evidence),
        names.resource("evidence"): evidence,
        names.resource("compliance"): ComplianceResource(
            policy_file=account.policy_file, roles_uri=account.roles_uri, roster_uri=account.roster_uri, s3=s3
        ),
    }


def build_resources(settings: Settings) -> dict:
    """Every account's resources; tests call this with their own settings."""
    return {key: value for account in settings.accounts for key, value in account_resources(account, settings).items()}


def account_assets(account: Account, settings: Settings) -> list[dg.AssetsDefinition]:
    names, partitions = Names(account.name), partitions_for(account, settings)
    return [*build_raw_assets(names, partitions, days_per_run=settings.backfill_days_per_run,
                              history_days=settings.history_days),
            build_owner_inputs_asset(names, partitions), *build_compliance_assets(names, partitions),
            build_report_asset(names, partitions), build_review_observation(names, account.timezone)]


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """Every account's assets."""
    return [asset for account in settings.accounts for asset in account_assets(account, settings)]


def build_account_defs(account: Account, settings: Settings, problem: str | None = None) -> dg.Definitions:
    """One account: its assets, resources, jobs, schedule and sensors."""
    names = Names(account.name)
    resources = account_resources(account, settings)
    if problem is not None:
        resources[names.resource("io_manager")] = UnusableSettings(problem=problem)
    # With unusable settings the store the sensor would watch is not the configured one: no sensor.
    sensors = [build_review_sensor(names, account.timezone)] if problem is None else []
    pipeline = dg.Definitions(assets=account_assets(account, settings), resources=resources, sensors=sensors)
    return dg.Definitions.merge(
        pipeline, build_account_operations(names, account, settings, partitions_for(account, settings))
    )


def build_defs(settings: Settings, *, problem: str | None = None) -> dg.Definitions:
    """The definitions for `settings` (the only entry point: everything that depends on the settings
    is built here); with `problem` (an unusable environment), every run fails at its first step with
    that error."""
    merged = dg.Definitions.merge(
        *(build_account_defs(account, settings, problem) for account in settings.accounts),
        dg.Definitions(sensors=run_sensors()),
    )
    # Cross-cutting policy in one place: every account's evidence must be younger than its policy.
    reports = [Names(account.name).report_key for account in settings.accounts]
    return apply_freshness(merged, selection=dg.AssetSelection.assets(*reports))


def load_defs() -> dg.Definitions:
    """The definitions for this environment, whatever it holds (see the module docstring)."""
    try:
        return build_defs(Settings.from_env())
    except SettingsError as exc:
        return build_defs(Settings.defaults(), problem=str(exc))


@dg.definitions
def defs() -> dg.Definitions:
    return load_defs()
