"""The one Definitions object of the project: every domain's assets, the job, schedules, sensors,
and the resources wired from the environment (credentials only as EnvVar names)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from aircall_pipeline.compliance.assets import compliance_assets
from aircall_pipeline.compliance.report_assets import evidence_report
from aircall_pipeline.compliance.resources import ComplianceResource
from aircall_pipeline.evidence.io_manager import EvidenceIOManager
from aircall_pipeline.evidence.resource import EvidenceResource
from aircall_pipeline.ingest.assets import raw_assets
from aircall_pipeline.ingest.resource import AircallResource
from aircall_pipeline.operations.definitions import build_operations_defs
from aircall_pipeline.operations.freshness import apply_freshness
from aircall_pipeline.operations.jobs import build_daily_job
from aircall_pipeline.settings import API_ID_VAR, API_TOKEN_VAR, Settings


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
    return {
        "aircall": AircallResource(
            api_id=dg.EnvVar(API_ID_VAR),
            api_token=dg.EnvVar(API_TOKEN_VAR),
            api_url=settings.api_url,
            rate_limit_per_minute=settings.rate_limit_per_minute,
            rate_limit_window_seconds=settings.rate_limit_window_seconds,
            limiter_url=settings.limiter_url,
        ),
        "io_manager": EvidenceIOManager(evidence=evidence),
        "evidence": evidence,
        "compliance": ComplianceResource(
            policy_file=settings.policy_file, roles_uri=settings.roles_uri, roster_uri=settings.roster_uri, s3=s3
        ),
    }


ASSETS = [*raw_assets, *compliance_assets, evidence_report]


def build_defs(settings: Settings) -> dg.Definitions:
    pipeline = dg.Definitions(assets=ASSETS, jobs=[build_daily_job(settings)], resources=build_resources(settings))
    # Cross-cutting policy in one place: the evidence must be younger than its freshness policy.
    return apply_freshness(dg.Definitions.merge(pipeline, build_operations_defs(settings)))


defs = build_defs(Settings.from_env())
