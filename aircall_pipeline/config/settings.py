"""Every environment variable the pipeline reads, in one place.

Secrets are deliberately absent from `Settings`: the credentials reach the Dagster resource as
`EnvVar`s so that the UI and run metadata only ever show the variable names (see
resources/aircall.py); the CLI reads them in exactly one function (`credentials_from_env`), and the
phone-number hash key in another (`pii_hash_secret`).

The variables are read by one pydantic model (`Environment`); the accounts file (accounts.py) and
the secrets (credentials.py) sit below this module and never import it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from aircall_pipeline.config.accounts import (
    ACCOUNTS_FILE_VAR,
    API_ID_VAR,
    API_TOKEN_VAR,
    DEFAULT_ACCOUNT_KEY,
    SECRET_REF_PREFIX,
    Account,
    account_label,
    check_timezone,
    load_accounts,
)
from aircall_pipeline.config.credentials import credentials_from_secret, resolved_values
from aircall_pipeline.config.settings_error import SettingsError
from aircall_pipeline.config.urls import DEFAULT_API_URL, is_loopback_host, shown_url, validate_api_url
from aircall_pipeline.evidence.variables import PUBLIC_KEY_VAR, SIGNING_KEY_VAR, TSA_CA_VAR, TSA_URL_VAR

# Re-exported: the rest of the application imports these from here.
__all__ = [
    "ACCOUNTS_FILE_VAR", "API_ID_VAR", "API_TOKEN_VAR", "DEFAULT_ACCOUNT_KEY", "DEFAULT_API_URL", "PUBLIC_KEY_VAR",
    "SECRET_REF_PREFIX", "SIGNING_KEY_VAR", "TSA_CA_VAR", "TSA_URL_VAR", "Account", "SettingsError", "account_label",
    "check_timezone", "is_loopback_host", "shown_url", "validate_api_url",
]

PII_HASH_KEY_VAR = "AIRCALL_PII_HASH_KEY"
API_URL_VAR = "AIRCALL_API_URL"
RATE_LIMIT_VAR = "AIRCALL_RATE_LIMIT_PER_MINUTE"
EVIDENCE_URI_VAR = "EVIDENCE_URI"
SCHEDULE_CRON_VAR = "AIRCALL_SCHEDULE_CRON"
ROLES_URI_VAR = "AIRCALL_ROLES_URI"
ROSTER_URI_VAR = "AIRCALL_ROSTER_URI"
POLICY_FILE_VAR = "AIRCALL_POLICY_FILE"
RATE_LIMIT_WINDOW_VAR = "AIRCALL_RATE_LIMIT_WINDOW_SECONDS"
SCHEDULE_STATUS_VAR = "AIRCALL_SCHEDULE_DEFAULT_STATUS"
RETENTION_DAYS_VAR = "EVIDENCE_RETENTION_DAYS"
RETENTION_MODE_VAR = "EVIDENCE_RETENTION_MODE"
ALERT_MIN_SEVERITY_VAR = "ALERT_MIN_SEVERITY"
# Alert severities, most severe first, and the external sinks a minimum can be set for.
SEVERITIES = ("critical", "error", "warning", "info")
ALERT_SINKS = ("slack", "webhook")
SLACK_TOKEN_VAR = "ALERT_SLACK_TOKEN"  # noqa: S105 - the variable's name, not a secret
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
LIMITER_URL_VAR = "AIRCALL_LIMITER_URL"
TIMEZONE_VAR = "AIRCALL_TIMEZONE"
PARTITIONS_START_VAR = "AIRCALL_PARTITIONS_START"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_PARTITIONS_START = "2026-01-01"
DEFAULT_SCHEDULE_CRON = "15 2 * * *"
DEFAULT_EVIDENCE_URI = "./evidence"
HISTORY_DAYS_VAR = "AIRCALL_HISTORY_DAYS"
# How far back calls can be asked for. Aircall serves about six months of call history ("Only six
# months of history is available", https://developer.aircall.io/api-references/#list-all-calls) and
# answers older windows with an empty 200; Estuary clamps backfills to 175 days
# (https://docs.estuary.dev/reference/Connectors/capture-connectors/aircall-native/).
DEFAULT_HISTORY_DAYS = 180
BACKFILL_DAYS_VAR = "AIRCALL_BACKFILL_DAYS_PER_RUN"
# Call days fetched by one backfill run (see ingest/assets.py for the trade-off behind 10).
DEFAULT_BACKFILL_DAYS_PER_RUN = 10


def parse_min_severity(raw: str | None) -> dict[str, str]:
    """ALERT_MIN_SEVERITY -> {sink: lowest severity it receives}; "*" is every external sink.

    `warning` applies to every sink; `slack:error,webhook:info` sets each sink; `warning,slack:error`
    sets a default and an exception. Empty: every sink receives every severity."""
    minimums: dict[str, str] = {}
    for part in (raw or "").split(","):
        part = part.strip().lower()
        if not part:
            continue
        sink, _, severity = part.rpartition(":")
        sink = sink.strip() or "*"
        severity = severity.strip()
        if severity not in SEVERITIES or sink not in ("*", *ALERT_SINKS):
            raise SettingsError(
                f"{ALERT_MIN_SEVERITY_VAR}={raw!r} is not understood: give one of {', '.join(SEVERITIES)}, "
                f"optionally per sink ({', '.join(ALERT_SINKS)}), e.g. 'warning' or 'warning,slack:error'."
            )
        minimums[sink] = severity
    return minimums


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home")


@dataclass(frozen=True)
class Settings:
    # The account the AIRCALL_* variables describe: the single account without an accounts file, and
    # the defaults of every field an entry of the file leaves out. `Account` is the one holder of
    # per-account fields; Settings holds the deployment-wide ones.
    default_account: Account
    # The limiter's window. Users set a per-minute budget; benchmarks and the sandbox compress
    # time by shrinking the window (60 requests per 6 s is the real shape, ten times faster).
    rate_limit_window_seconds: int
    limiter_url: str
    partitions_start: str
    schedule_running: bool
    slack_token_set: bool
    slack_channel: str | None
    webhook_url: str | None
    webserver_url: str
    alert_min_severity: dict[str, str]  # see parse_min_severity
    # Evidence integrity: `file:PATH` or `awskms:KEY` (a reference to a key, never key material), and
    # the S3 Object Lock retention written on every object (None: no retention).
    signing_key: str | None = None
    retention_days: int | None = None
    retention_mode: str = "compliance"
    # RFC 3161 time-stamping authorities (EVIDENCE_TSA_URL), tried in order; empty: no proof of time.
    tsa_urls: tuple[str, ...] = ()
    # The accounts of an accounts file; empty: the single account of the variables above.
    named_accounts: tuple[Account, ...] = ()
    # How many call days one backfill run fetches (the calls asset's BackfillPolicy).
    backfill_days_per_run: int = DEFAULT_BACKFILL_DAYS_PER_RUN
    # The call history horizon in days before the run (AIRCALL_HISTORY_DAYS, see timing.py).
    history_days: int = DEFAULT_HISTORY_DAYS

    @property
    def accounts(self) -> tuple[Account, ...]:
        """Every account this deployment collects, each with its own assets, jobs and schedule."""
        return self.named_accounts or (self.default_account,)

    def account(self, name: str | None) -> Account:
        """The account called `name` (or whose partition key is `name`); None picks the only one, or
        says which exist."""
        accounts = self.accounts
        if name is None and len(accounts) == 1:
            return accounts[0]
        for account in accounts:
            if account.name == name or (name is not None and account.key == name):
                return account
        known = ", ".join(a.name or "(the environment's account)" for a in accounts)
        if name is None:
            raise SettingsError(f"{len(accounts)} accounts are configured ({known}): choose one with --account NAME.")
        raise SettingsError(f"no account named {name!r}; the configured accounts are: {known}.")

    @classmethod
    def from_env(cls) -> Settings:
        """The settings of this environment; SettingsError names the first unusable variable."""
        settings = cls._from_variables()
        accounts_file = os.environ.get(ACCOUNTS_FILE_VAR)
        if accounts_file:
            return replace(settings, named_accounts=load_accounts(accounts_file, settings))
        return settings

    @classmethod
    def _from_variables(cls) -> Settings:
        env = Environment.read()
        return cls(
            default_account=Account(
                name=None,
                api_url=env.api_url,
                rate_limit_per_minute=env.rate_limit_per_minute,
                evidence_uri=env.evidence_uri,
                timezone=env.timezone,
                schedule_cron=env.schedule_cron,
                roles_uri=env.roles_uri,
                roster_uri=env.roster_uri,
                policy_file=env.policy_file,
            ),
            rate_limit_window_seconds=env.rate_limit_window_seconds,
            limiter_url=env.limiter_url,
            partitions_start=env.partitions_start,
            schedule_running=env.schedule_default_status.lower() != "stopped",
            **{**alert_variables(), "alert_min_severity": env.alert_min_severity},
            signing_key=env.signing_key,
            retention_days=env.retention_days,
            retention_mode=env.retention_mode,
            tsa_urls=env.tsa_urls,
            backfill_days_per_run=env.backfill_days_per_run,
            history_days=env.history_days,
        )

    @classmethod
    def defaults(cls) -> Settings:
        """Every setting at its default, nothing read from the environment: what the definitions
        are built from when the environment's settings are unusable (see definitions.py), so that
        they still load and every run fails with the configuration error instead."""
        return cls(
            default_account=Account(
                name=None, api_url=DEFAULT_API_URL, evidence_uri=DEFAULT_EVIDENCE_URI, timezone=DEFAULT_TIMEZONE,
                rate_limit_per_minute=60, schedule_cron=DEFAULT_SCHEDULE_CRON,
            ),
            rate_limit_window_seconds=60, limiter_url=default_limiter_url(),
            partitions_start=DEFAULT_PARTITIONS_START, schedule_running=True, slack_token_set=False, slack_channel=None,
            webhook_url=None, webserver_url=DEFAULT_WEBSERVER_URL, alert_min_severity={},
        )


def default_limiter_url() -> str:
    return f"sqlite:///{dagster_home() / 'aircall_rate_limit.sqlite'}"


def _signing_key(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    kind, _, ref = value.partition(":")
    if kind not in ("file", "awskms") or not ref:
        raise SettingsError(
            f"{SIGNING_KEY_VAR} must be file:PATH (an Ed25519 PEM key, see `aircall-pipeline keygen`) or "
            "awskms:KEY_ID_OR_ARN (an ECC_NIST_P256 signing key)."
        )
    return value


def _retention_mode(value: str | None) -> str:
    mode = (value or "compliance").strip().lower()
    if mode not in ("compliance", "governance"):
        raise SettingsError(f"{RETENTION_MODE_VAR}={value!r}: use compliance or governance.")
    return mode


def evidence_public_key() -> str | None:
    """The trusted public key `verify` uses when no --public-key / --kms-key-id is given."""
    return os.environ.get(PUBLIC_KEY_VAR) or None


def evidence_tsa_urls() -> list[str]:
    """The time-stamping authorities each manifest's statement is stamped by, in the order tried;
    empty: no proof of time."""
    return parse_tsa_urls(os.environ.get(TSA_URL_VAR))


def parse_tsa_urls(raw: str | None) -> list[str]:
    """EVIDENCE_TSA_URL: URLs separated by spaces or commas. https://, or http:// on loopback only:
    a token is checked whatever the transport, but over plain http anyone on the path can withhold
    every stamp unnoticed. user:password@ is refused (and never repeated), as for AIRCALL_API_URL."""
    urls = [url for url in re.split(r"[\s,]+", raw or "") if url]
    for url in urls:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - reading it validates it
        except ValueError:
            raise SettingsError(f"{TSA_URL_VAR}: a value is not a URL (bad host or port).") from None
        if "@" in parts.netloc:
            raise SettingsError(f"{TSA_URL_VAR}: {shown_url(url)} contains credentials (user:password@); remove them.")
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SettingsError(f"{TSA_URL_VAR}: {shown_url(url)} is not an http(s) URL of an RFC 3161 TSA.")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise SettingsError(
                f"{TSA_URL_VAR}: {shown_url(url)} uses plain http:// on a non-loopback host; use https:// "
                "(http:// is only accepted for a TSA on localhost)."
            )
    return urls


def evidence_tsa_ca() -> str | None:
    """The PEM file of the TSA root certificate(s) `verify` trusts; without it a token's signature is
    checked against its own certificate only, and reported as not trusted."""
    return os.environ.get(TSA_CA_VAR) or None


def _whole_number(raw: Any) -> Any:
    # int() and not pydantic's own parsing: "5.0" is not a whole number of requests.
    try:
        return int(raw)
    except ValueError:
        raise PydanticCustomError("whole_number", "not a whole number") from None


def _iana_timezone(value: str) -> str:
    try:
        return check_timezone(value)
    except SettingsError:
        raise PydanticCustomError("timezone", "not an IANA timezone") from None


def _iso_date(value: str) -> str:
    try:
        if len(value) != 10:  # fromisoformat also reads 20260101, which Dagster does not
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("iso_date", "not a date in the form YYYY-MM-DD") from None
    return value


AtLeastOne = Annotated[int, BeforeValidator(_whole_number), Field(ge=1)]


class Environment(BaseModel):
    """The variables `Settings` is made of, by their names (an empty variable is an unset one). The
    fields are in the order they are checked: SettingsError names the first unusable one."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    api_url: Annotated[str, AfterValidator(validate_api_url), Field(alias=API_URL_VAR)] = DEFAULT_API_URL
    rate_limit_per_minute: Annotated[AtLeastOne, Field(alias=RATE_LIMIT_VAR)] = 60
    evidence_uri: Annotated[str, Field(alias=EVIDENCE_URI_VAR)] = DEFAULT_EVIDENCE_URI
    timezone: Annotated[str, AfterValidator(_iana_timezone), Field(alias=TIMEZONE_VAR)] = DEFAULT_TIMEZONE
    schedule_cron: Annotated[str, Field(alias=SCHEDULE_CRON_VAR)] = DEFAULT_SCHEDULE_CRON
    roles_uri: Annotated[str | None, Field(alias=ROLES_URI_VAR)] = None
    roster_uri: Annotated[str | None, Field(alias=ROSTER_URI_VAR)] = None
    policy_file: Annotated[str | None, Field(alias=POLICY_FILE_VAR)] = None
    rate_limit_window_seconds: Annotated[AtLeastOne, Field(alias=RATE_LIMIT_WINDOW_VAR)] = 60
    limiter_url: Annotated[str, Field(alias=LIMITER_URL_VAR, default_factory=default_limiter_url)]
    partitions_start: Annotated[str, AfterValidator(_iso_date), Field(alias=PARTITIONS_START_VAR)] = (
        DEFAULT_PARTITIONS_START)
    schedule_default_status: Annotated[str, Field(alias=SCHEDULE_STATUS_VAR)] = "running"
    alert_min_severity: Annotated[dict[str, str], BeforeValidator(parse_min_severity),
                                  Field(alias=ALERT_MIN_SEVERITY_VAR, default_factory=dict)]
    signing_key: Annotated[str | None, BeforeValidator(_signing_key), Field(alias=SIGNING_KEY_VAR)] = None
    retention_days: Annotated[int | None, BeforeValidator(_whole_number), Field(ge=1, alias=RETENTION_DAYS_VAR)] = None
    retention_mode: Annotated[str, BeforeValidator(_retention_mode), Field(alias=RETENTION_MODE_VAR)] = (
        "compliance")
    tsa_urls: Annotated[tuple[str, ...], BeforeValidator(lambda v: tuple(parse_tsa_urls(v))), Field(alias=TSA_URL_VAR)] = ()
    backfill_days_per_run: Annotated[AtLeastOne, Field(alias=BACKFILL_DAYS_VAR)] = DEFAULT_BACKFILL_DAYS_PER_RUN
    history_days: Annotated[AtLeastOne, Field(alias=HISTORY_DAYS_VAR)] = DEFAULT_HISTORY_DAYS

    @classmethod
    def read(cls) -> Environment:
        """This process's variables; SettingsError (naming the variable) for the first unusable one."""
        try:
            return cls.model_validate({name: value for name, value in os.environ.items() if value})
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
        # Raised here, outside the `except`: the ValidationError, which repeats the values (an API URL
        # may hold user:password@), must not travel as the SettingsError's context.
        raise _variable_error(error)


def _variable_error(error: Any) -> SettingsError:
    """pydantic's error on one variable in today's words: `NAME=value` and what is wrong with it."""
    name, raw, kind = error["loc"][0], error["input"], error["type"]
    if kind == "whole_number":
        return SettingsError(f"{name}={raw!r} is not a whole number.")
    if kind == "greater_than_equal":
        return SettingsError(f"{name}={int(raw)} must be at least {error['ctx']['ge']}.")
    if kind == "timezone":
        return SettingsError(f"{name}={raw!r} is not an IANA timezone (e.g. Europe/Paris, UTC).")
    if kind == "iso_date":
        return SettingsError(f"{name}={raw!r} is not a date in the form YYYY-MM-DD.")
    cause = (error.get("ctx") or {}).get("error")
    # The checks shared with other callers (the API URL, the TSA URLs...) raise their own words.
    return cause if isinstance(cause, SettingsError) else SettingsError(f"{name}: {error['msg']}.")


def alert_variables() -> dict[str, Any]:
    """The alert sinks' variables, readable on their own: alerting must work even when another
    setting is invalid (that may be the very failure being reported). An unusable
    ALERT_MIN_SEVERITY means "send everything" here; `Environment` is the strict reading."""
    env = os.environ.get
    try:
        min_severity = parse_min_severity(env(ALERT_MIN_SEVERITY_VAR))
    except SettingsError:
        min_severity = {}
    return {
        "slack_token_set": bool(env(SLACK_TOKEN_VAR)),
        "slack_channel": env("ALERT_SLACK_CHANNEL") or None,
        "webhook_url": env("ALERT_WEBHOOK_URL") or None,
        "webserver_url": (env("DAGSTER_WEBSERVER_URL") or DEFAULT_WEBSERVER_URL).rstrip("/"),
        "alert_min_severity": min_severity,
    }


def slack_token() -> str | None:
    """Read at send time only, inside the Slack sink, and never logged."""
    return os.environ.get(SLACK_TOKEN_VAR) or None


# Variables whose values are secrets wherever they appear (the alert scrubber removes them).
SECRET_VARS = (API_TOKEN_VAR, SLACK_TOKEN_VAR, "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", PII_HASH_KEY_VAR)


def secret_values() -> list[tuple[str, str]]:
    """(api id, secret) pairs and lone secrets currently in the environment: every account's API token
    (with its id, for the Basic header), from its variables or read from AWS Secrets Manager in this
    process, the Slack token, AWS secrets. What the scrubber must never let
    out; the values never leave the process."""
    pairs = [("", os.environ.get(name, "")) for name in SECRET_VARS]
    accounts: tuple[Account, ...]
    try:
        accounts = Settings.from_env().accounts
    except SettingsError:
        accounts = ()
    id_vars = {(API_ID_VAR, API_TOKEN_VAR)} | {(a.api_id_env, a.api_token_env) for a in accounts if not a.api_secret}
    pairs += [(os.environ.get(i, ""), os.environ.get(t, "")) for i, t in sorted(id_vars)]
    # And every key read from AWS Secrets Manager in this process (credentials.py).
    pairs += resolved_values()
    return [(api_id, value) for api_id, value in pairs if value]


def dagster_home_set() -> Path | None:
    """DAGSTER_HOME when it is set and exists: runs then join the history the UI shows."""
    home = os.environ.get("DAGSTER_HOME")
    return Path(home) if home and os.path.isdir(home) else None


def variables_set(*names: str) -> dict[str, bool]:
    """Whether each variable is set (non-empty), never its value: what `aircall-pipeline accounts` shows."""
    return {name: bool(os.environ.get(name)) for name in names}


def credentials_from_env(account: Account | None = None) -> tuple[str, str]:
    """(api_id, api_token) of `account` (None: the AIRCALL_* variables' account): from the two variables
    it names, or, with `api_secret`, from AWS Secrets Manager (read at run time, cached for a few
    minutes in this process, never logged; see credentials.py). SettingsError says what to fix."""
    if account is not None and account.api_secret:
        return credentials_from_secret(account.api_secret, account.name)
    id_var, token_var = (account.api_id_env, account.api_token_env) if account else (API_ID_VAR, API_TOKEN_VAR)
    api_id, api_token = os.environ.get(id_var, ""), os.environ.get(token_var, "")
    missing = [name for name, value in ((id_var, api_id), (token_var, api_token)) if not value]
    if missing:
        # Imported here: the client package imports this module, so a top-level import would cycle.
        from aircall_pipeline.aircall.errors import NEW_KEY_ADVICE

        raise SettingsError(f"{' and '.join(missing)} not set. {NEW_KEY_ADVICE}")
    return api_id, api_token


def pii_hash_secret() -> str | None:
    """The secret behind the keyed hash of external phone numbers (see ingest/pii.py). Production
    must set it: every run pod has to hash with the same key for hashes to stay comparable."""
    return os.environ.get(PII_HASH_KEY_VAR) or None
