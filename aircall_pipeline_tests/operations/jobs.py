"""Tiny assets and jobs that fail the way the real ones do, for the sensor, retry and pool tests.

They raise the project's real error classes through the real `no_retry_on_auth_error` decorator
and retry policy, so the sensors see exactly what a failed production run records. Jobs that run
in other processes (run worker, multiprocess executor) are reconstructed from the functions here.
"""

import base64
import os
import time
from collections import Counter

import dagster as dg
import pandas as pd

from aircall_pipeline.aircall.errors import AircallAuthError, AircallRateLimitError, AircallServerError
from aircall_pipeline.compliance.catalogue import MISSING_CONFIGURATION, SKIP_CAUSE
from aircall_pipeline.ingest.retry import api_retry_policy, no_retry_on_auth_error
from aircall_pipeline.names import API_POOL, DAILY_JOB
from aircall_pipeline.names import key as asset_key

# A value no real message would contain by chance: any alert showing it leaked a secret.
SECRET_TOKEN = "tok-SECRET-7f3a9c1e5b2d4400"  # noqa: S105 - a test credential
API_ID = "ac-id-4242"
BASIC = base64.b64encode(f"{API_ID}:{SECRET_TOKEN}".encode()).decode()
RESET_AT = 1773112000.0  # 2026-03-10T03:06:40+00:00
PARTITION = "2026-03-09"

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")
FAST_RETRY = api_retry_policy(max_retries=2, delay_seconds=0.05)
ATTEMPTS: Counter[str] = Counter()

_api = dict(partitions_def=PARTITIONS, pool=API_POOL, retry_policy=FAST_RETRY)


def key(name: str) -> list[str]:
    return asset_key(name).path


@dg.asset(key=key("users"), **_api)
@no_retry_on_auth_error
def revoked_key_users(context: dg.AssetExecutionContext) -> int:
    ATTEMPTS["auth"] += 1
    # Real client messages never hold the key; this one does, to prove the redaction pass works.
    raise AircallAuthError(
        f"401 Unauthorized from GET /v2/users (sent Authorization: Basic {BASIC}; token {SECRET_TOKEN})",
        status=401, endpoint="/v2/users",
    )


@dg.asset(key=key("calls"), **_api)
@no_retry_on_auth_error
def exhausted_calls(context: dg.AssetExecutionContext) -> int:
    ATTEMPTS["rate_limit"] += 1
    raise AircallRateLimitError(
        "429 Too Many Requests from GET /v1/calls: the budget stayed exhausted after the bounded wait",
        reset_at=RESET_AT, status=429, endpoint="/v1/calls",
    )


@dg.asset(key=key("teams"), **_api)
@no_retry_on_auth_error
def flaky_teams(context: dg.AssetExecutionContext) -> int:
    ATTEMPTS["server"] += 1
    if context.retry_number < 2:
        raise AircallServerError("503 Service Unavailable from GET /v1/teams after 4 attempts", status=503)
    return 1


@dg.asset(key=key("numbers"), **_api)
@no_retry_on_auth_error
def generator_auth_numbers(context: dg.AssetExecutionContext):
    """A generator body, like the real multi-assets: the decorator must see errors raised mid-iteration."""
    ATTEMPTS["generator_auth"] += 1
    if False:  # pragma: no cover - makes this a generator function
        yield
    raise AircallAuthError("403 Forbidden from GET /v1/numbers", status=403, endpoint="/v1/numbers")


class EvidenceUri(dg.ConfigurableResource):
    uri: str


@dg.asset(key=key("company"), partitions_def=PARTITIONS)
def company_into_missing_bucket(context: dg.AssetExecutionContext, evidence: EvidenceUri) -> int:
    from aircall_pipeline.evidence.store import EvidenceStore

    store = EvidenceStore.from_uri(evidence.uri)
    store.write_table("company", context.partition_key, pd.DataFrame({"name": ["Northwind"]}))
    return 1


@dg.asset(
    key=key("ac01_user_inventory"), partitions_def=PARTITIONS,
    check_specs=[dg.AssetCheckSpec("ac01_user_inventory", asset=key("ac01_user_inventory"), blocking=True)],
)
def ac01_user_inventory(context: dg.AssetExecutionContext):
    yield dg.Output(1)
    yield dg.AssetCheckResult(
        check_name="ac01_user_inventory", passed=False, severity=dg.AssetCheckSeverity.ERROR,
        description="FAIL: 23 users fetched but the company reports 25.",
        metadata={"check_id": "AC-01", "status": "fail", "observed": "23", "threshold": "users fetched == company.users_count",
                  "items_flagged": 2, "item_ids": dg.MetadataValue.json(["u-901", "u-902"])},
    )


@dg.asset(key=key("evidence_report"), partitions_def=PARTITIONS, deps=[ac01_user_inventory])
def evidence_report_after_ac01(context: dg.AssetExecutionContext) -> int:
    return 1


def _check(name: str, status: str, *, error: bool = False, items: int = 0, description: str = "",
           unconfigured: tuple[str, ...] = ()) -> dg.AssetCheckResult:
    """A check result shaped like compliance/assets.py's `check_result`."""
    metadata: dict = {"status": status, "observed": str(items), "threshold": "none flagged", "items_flagged": items,
                      "item_labels": dg.MetadataValue.json([f"user-{i}@northwind.example" for i in range(items)])}
    if unconfigured:
        metadata.update({SKIP_CAUSE: MISSING_CONFIGURATION, MISSING_CONFIGURATION: dg.MetadataValue.json(list(unconfigured))})
    return dg.AssetCheckResult(
        asset_key=key("checks"), check_name=name, passed=status == "pass",
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        description=f"{status.upper()}: {description or name}", metadata=metadata,
    )


_DAY_CHECKS = ("privileged_access", "offboarding", "shared_accounts", "dormant_accounts", "team_coverage",
               "access_changes")


@dg.asset(key=key("checks"), partitions_def=PARTITIONS,
          check_specs=[dg.AssetCheckSpec(name, asset=key("checks")) for name in _DAY_CHECKS])
def a_normal_day(context: dg.AssetExecutionContext):
    """A normal account's day: findings, a missing roles file and roster, too little call history."""
    yield dg.Output(1)
    yield _check("privileged_access", "skip", description="No roles file is configured (roles_uri).",
                 unconfigured=("roles_uri",))
    yield _check("offboarding", "skip", description="No roster is configured (roster_uri).",
                 unconfigured=("roster_uri",))
    yield _check("shared_accounts", "fail", error=True, items=30, description="30 shared accounts.")
    yield _check("dormant_accounts", "skip", description="Not enough call history.")
    yield _check("team_coverage", "warn", items=1, description="1 user in no team.")
    yield _check("access_changes", "pass")


@dg.asset(key=key("checks"), partitions_def=PARTITIONS,
          check_specs=[dg.AssetCheckSpec(name, asset=key("checks")) for name in _DAY_CHECKS[:2]])
def only_configuration_missing(context: dg.AssetExecutionContext):
    yield dg.Output(1)
    yield _check("privileged_access", "skip", unconfigured=("roles_uri",))
    yield _check("offboarding", "skip", unconfigured=("roster_uri",))


@dg.asset(key=key("checks"), partitions_def=PARTITIONS,
          check_specs=[dg.AssetCheckSpec(name, asset=key("checks")) for name in _DAY_CHECKS[:2]])
def roster_configured(context: dg.AssetExecutionContext):
    yield dg.Output(1)
    yield _check("privileged_access", "skip", unconfigured=("roles_uri",))
    yield _check("offboarding", "pass")


# ---- jobs executed in other processes -------------------------------------------------------------


class AircallCredentials(dg.ConfigurableResource):
    api_id: str
    api_token: str


@dg.asset(key=key("company"), partitions_def=PARTITIONS)
def company_needing_credentials(context: dg.AssetExecutionContext, aircall: AircallCredentials) -> int:
    return 1


config_defs = dg.Definitions(
    assets=[company_needing_credentials],
    jobs=[dg.define_asset_job(DAILY_JOB, selection=[company_needing_credentials])],
    resources={"aircall": AircallCredentials(api_id=dg.EnvVar("AIRCALL_API_ID"),
                                             api_token=dg.EnvVar("AIRCALL_API_TOKEN"))},
)


def get_config_job() -> dg.JobDefinition:
    return config_defs.resolve_job_def(DAILY_JOB)


STEP_SECONDS = float(os.environ.get("POOL_TEST_STEP_SECONDS", "1.5"))


def _api_step(context: dg.AssetExecutionContext) -> int:
    time.sleep(STEP_SECONDS)
    return 1


pool_users = dg.asset(key=key("users"), pool=API_POOL)(_api_step)
pool_teams = dg.asset(key=key("teams"), pool=API_POOL)(_api_step)

pool_defs = dg.Definitions(
    assets=[pool_users, pool_teams],
    jobs=[dg.define_asset_job("pool_job", selection=[pool_users, pool_teams])],
    executor=dg.multiprocess_executor,
)


def get_pool_job() -> dg.JobDefinition:
    return pool_defs.resolve_job_def("pool_job")
