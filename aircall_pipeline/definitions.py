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
from aircall_pipeline.compliance.assets import compliance_assets
from aircall_pipeline.compliance.report_assets import evidence_report
from aircall_pipeline.compliance.resources import ComplianceResource
from aircall_pipeline.evidence.io_manager import EvidenceIOManager
from aircall_pipeline.evidence.resource import EvidenceResource
from aircall_pipeline.ingest.assets import raw_assets
from aircall_pipeline.ingest.partitions import apply_partitions, partitions_for
from aircall_pipeline.ingest.resource import AircallResource
from aircall_pipeline.operations.definitions import build_operations_defs
from aircall_pipeline.operations.freshness import apply_freshness
from aircall_pipeline.operations.jobs import build_daily_job
from aircall_pipeline.settings import API_ID_VAR, API_TOKEN_VAR, LIMITER_URL_VAR, Settings, SettingsError


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
    """The resources for one environment; tests call this with their own settings."""
    # A local evidence folder is pinned to an absolute path here, so the code server, run workers and
    # the CLI all write to the same place whatever their working directory.
    uri = settings.evidence_uri
    evidence_uri = uri if "://" in uri else str(Path(uri).expanduser().resolve())
    # boto3 defaults: AWS_ENDPOINT_URL_S3, AWS_REGION and credentials come from the usual AWS_* variables.
    s3 = S3Resource(max_attempts=3)
    evidence = EvidenceResource(
        evidence_uri=evidence_uri,
        s3=s3,
        signing_key=settings.signing_key,
        retention_days=settings.retention_days,
        retention_mode=settings.retention_mode,
    )
    # A limiter URL holding a password (redis://:pw@host, ?password=) reaches the resource as an
    # EnvVar: the UI and the stored snapshot then show the variable's name, never the password.
    limiter_url = (dg.EnvVar(LIMITER_URL_VAR) if redact_url(settings.limiter_url) != settings.limiter_url
                   else settings.limiter_url)
    return {
        "aircall": AircallResource(
            api_id=dg.EnvVar(API_ID_VAR),
            api_token=dg.EnvVar(API_TOKEN_VAR),
            api_url=settings.api_url,
            rate_limit_per_minute=settings.rate_limit_per_minute,
            rate_limit_window_seconds=settings.rate_limit_window_seconds,
            limiter_url=limiter_url,
        ),
        "io_manager": EvidenceIOManager(evidence=evidence),
        "evidence": evidence,
        "compliance": ComplianceResource(
            policy_file=settings.policy_file, roles_uri=settings.roles_uri, roster_uri=settings.roster_uri, s3=s3
        ),
    }


ASSETS = [*raw_assets, *compliance_assets, evidence_report]


def build_defs(settings: Settings, *, problem: str | None = None) -> dg.Definitions:
    """The definitions for `settings`; with `problem` (an unusable environment), every run fails
    at its first step with that error."""
    resources = build_resources(settings)
    if problem is not None:
        resources["io_manager"] = UnusableSettings(problem=problem)
    pipeline = dg.Definitions(assets=ASSETS, jobs=[build_daily_job(settings)], resources=resources)
    merged = dg.Definitions.merge(pipeline, build_operations_defs(settings))
    # Cross-cutting policy in one place: the configured evidence dates on every asset, and the
    # evidence must be younger than its freshness policy.
    return apply_freshness(apply_partitions(merged, partitions_for(settings)))


def load_defs() -> dg.Definitions:
    """The definitions for this environment, whatever it holds (see the module docstring)."""
    try:
        return build_defs(Settings.from_env())
    except SettingsError as exc:
        return build_defs(Settings.defaults(), problem=str(exc))


@dg.definitions
def defs() -> dg.Definitions:
    return load_defs()
