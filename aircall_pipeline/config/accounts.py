"""The accounts file (`AIRCALL_ACCOUNTS_FILE`): several Aircall accounts in one deployment.

```yaml
accounts:
  - name: acme_eu                                   # [a-z][a-z0-9_]{0,30}: in asset keys, job names, tags
    api_id_env: AIRCALL_ACME_EU_API_ID              # names of variables, never the secrets themselves
    api_token_env: AIRCALL_ACME_EU_API_TOKEN
    # or, instead of the two variables: a secret holding {"api_id": ..., "api_token": ...}
    # api_secret: aws-secretsmanager:aircall/acme_eu
    api_url: https://api.aircall.io                 # every field below defaults to today's variables
    evidence_uri: s3://evidence/acme_eu             # default: EVIDENCE_URI/<name>
    timezone: Europe/Paris
    rate_limit_per_minute: 60
    schedule_cron: "15 2 * * *"
    roles_uri: s3://grc-inputs/acme_eu/roles.csv
    roster_uri: s3://grc-inputs/acme_eu/roster.csv
    policy_file: policies/acme_eu.yaml
    paused: false                                   # true: configured, but not collected
```

The file is parsed into pydantic models (`AccountsFile` of `AccountEntry`), strict: no key, type
or value is guessed. Every mistake (YAML syntax, an unknown key, a duplicate or invalid name, a missing or malformed
variable name, a bad value) is one `SettingsError` naming the file and the line. Like every
setting, it never stops the definitions from loading: runs then fail with a `config` alert.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from aircall_pipeline.config.settings_error import SettingsError
from aircall_pipeline.config.urls import validate_api_url
from aircall_pipeline.config.yaml_errors import UNKNOWN_KEY, first_located, line_of, load_with_nodes

API_ID_VAR = "AIRCALL_API_ID"
API_TOKEN_VAR = "AIRCALL_API_TOKEN"  # noqa: S105 - the variable name, not a secret
ACCOUNTS_FILE_VAR = "AIRCALL_ACCOUNTS_FILE"
# The partition key of the single account the environment variables configure (no accounts file).
DEFAULT_ACCOUNT_KEY = "default"
# An accounts file's `api_secret:` reference to an AWS Secrets Manager secret (see credentials.py).
SECRET_REF_PREFIX = "aws-secretsmanager:"  # noqa: S105 - a reference scheme, not a secret


@dataclass(frozen=True)
class Account:
    """One Aircall account and where its evidence goes. `name` is None for the single account the
    environment variables configure; the accounts file names each of its accounts (see names.py).
    The credentials are never here: only the names of the variables that hold them, or a reference
    to the secret that does (`api_secret`)."""

    name: str | None
    api_url: str
    evidence_uri: str
    timezone: str
    rate_limit_per_minute: int
    schedule_cron: str
    roles_uri: str | None = None
    roster_uri: str | None = None
    policy_file: str | None = None
    api_id_env: str = API_ID_VAR
    api_token_env: str = API_TOKEN_VAR
    # Instead of the two variables: `aws-secretsmanager:<name-or-arn>`, a secret holding
    # {"api_id": ..., "api_token": ...}, read at run time by `credentials_from_env`.
    api_secret: str | None = None
    # A paused account (the accounts file's `paused: true`) stays registered (its partitions, its
    # evidence) but is not scheduled.
    paused: bool = False

    @property
    def key(self) -> str:
        """The account's key in the `aircall_accounts` dynamic partitions (ingest/partitions.py): its
        name, or `default` for the single account of the environment variables."""
        return self.name or DEFAULT_ACCOUNT_KEY

    @property
    def budget(self) -> str:
        """The key of the account's API budget in the shared limiter (SQLite table or Redis key):
        `aircall` for the single account, `aircall_<name>` for a named one (unchanged since the
        budgets were per account)."""
        return f"aircall_{self.name}" if self.name else "aircall"

    @property
    def label(self) -> str:
        """The `aircall/account` tag and the run limit's key: the account's name, or for the single
        account `<api host>/<api id>` (the API id is the Basic user name, not the secret)."""
        if self.name:
            return self.name
        return account_label(self.api_url, (os.environ.get(self.api_id_env) or "").strip())


def account_label(api_url: str, api_id: str | None) -> str:
    """`<api host>/<api id>` (the host alone without an id): the one non-secret name of an Aircall
    account, used in run tags and to key the external-number hash. The API id is the Basic user
    name, not the secret."""
    host = api_url.split("://", 1)[-1]
    return f"{host}/{api_id}" if api_id else host


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{value!r} is not an IANA timezone (e.g. Europe/Paris, UTC).") from None
    return value


class Defaults(Protocol):
    """What the accounts file's entries take their missing fields from (`Settings` is one)."""

    @property
    def default_account(self) -> Account: ...


NAME_PATTERN = r"^[a-z][a-z0-9_]{0,30}$"
VARIABLE_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
# A Secrets Manager secret's name (letters, digits, /_+=.@-) or its ARN (which adds colons).
SECRET_PATTERN = rf"^{SECRET_REF_PREFIX}[A-Za-z0-9/_+=.@:-]{{1,2048}}$"
NAME = re.compile(NAME_PATTERN)
TEXT_FIELDS = ("api_url", "evidence_uri", "timezone", "schedule_cron", "roles_uri", "roster_uri", "policy_file")
MAX_BYTES = 1024 * 1024

Text = Annotated[str, Field(min_length=1)]


class AccountEntry(BaseModel):
    """One entry of `accounts:` as written; the fields it leaves out (None) take the defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    api_id_env: Annotated[str, Field(pattern=VARIABLE_PATTERN)] | None = None
    api_token_env: Annotated[str, Field(pattern=VARIABLE_PATTERN)] | None = None
    api_secret: Annotated[str, Field(pattern=SECRET_PATTERN)] | None = None
    api_url: Text | None = None
    evidence_uri: Text | None = None
    timezone: Text | None = None
    rate_limit_per_minute: Annotated[int, Field(ge=1)] | None = None
    schedule_cron: Text | None = None
    roles_uri: Text | None = None
    roster_uri: Text | None = None
    policy_file: Text | None = None
    paused: bool = False

    @field_validator(*TEXT_FIELDS, "api_id_env", "api_token_env", "api_secret", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        # `default` is the partition key of the single account of the AIRCALL_* variables: an account
        # of that name could not be told from it in partitions, alerts and `accounts`.
        if value == DEFAULT_ACCOUNT_KEY:
            raise ValueError("reserved")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        return validate_api_url(value) if value is not None else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value) if value is not None else None

    @model_validator(mode="after")
    def _one_way_to_credentials(self) -> AccountEntry:
        variables = [k for k in ("api_id_env", "api_token_env") if getattr(self, k) is not None]
        if self.api_secret is not None and variables:
            raise PydanticCustomError("credentials_twice", "both")
        if self.api_secret is None and len(variables) < 2:
            raise PydanticCustomError("credentials_missing", "missing")
        return self

    def account(self, default: Account) -> Account:
        """The `Account`: this entry's fields, the rest from `default` (the AIRCALL_* variables'
        account). Without evidence_uri, the evidence goes to `<default's evidence_uri>/<name>`."""
        return Account(
            name=self.name,
            api_url=self.api_url or default.api_url,
            evidence_uri=self.evidence_uri or evidence_uri_for(default.evidence_uri, self.name),
            timezone=self.timezone or default.timezone,
            rate_limit_per_minute=self.rate_limit_per_minute or default.rate_limit_per_minute,
            schedule_cron=self.schedule_cron or default.schedule_cron,
            roles_uri=self.roles_uri or default.roles_uri,
            roster_uri=self.roster_uri or default.roster_uri,
            policy_file=self.policy_file or default.policy_file,
            api_id_env=self.api_id_env or "",
            api_token_env=self.api_token_env or "",
            api_secret=self.api_secret,
            paused=self.paused,
        )


class AccountsFile(BaseModel):
    """The whole file: `accounts:`, a non-empty list of accounts with unique names."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    accounts: Annotated[list[AccountEntry], Field(min_length=1)]

    @field_validator("accounts")
    @classmethod
    def _unique_names(cls, accounts: list[AccountEntry]) -> list[AccountEntry]:
        seen: dict[str, int] = {}
        for index, entry in enumerate(accounts):
            if entry.name in seen:
                raise PydanticCustomError("duplicate_name", "duplicate", {"index": index, "first": seen[entry.name]})
            seen[entry.name] = index
        return accounts


def evidence_uri_for(base: str, name: str) -> str:
    """`base/name`: `s3://bucket/prefix` -> `s3://bucket/prefix/name`, `./evidence` -> `./evidence/name`."""
    if "://" in base:
        scheme, _, rest = base.partition("://")
        return f"{scheme}://{rest.rstrip('/')}/{name}" if rest.strip("/") else f"{scheme}://{name}"
    return os.path.join(base, name)


def load_accounts(path: str, defaults: Defaults) -> tuple[Account, ...]:
    """The accounts of the file at `path`; fields it leaves out come from `defaults.default_account`
    (the variables)."""
    where = f"{ACCOUNTS_FILE_VAR}={path}"
    try:
        raw = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise SettingsError(f"{where}: cannot be read ({exc.strerror or exc}).") from None
    if len(raw) > MAX_BYTES:
        raise SettingsError(f"{where}: larger than 1 MiB; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{where}: not UTF-8 text.") from None
    root, data = load_with_nodes(text, path)
    if root is None:
        raise SettingsError(f"{path}: the file is empty; it must hold `accounts:` with a list of accounts.")
    try:
        parsed = AccountsFile.model_validate(data)
    except ValidationError as exc:
        problem = _settings_error(exc, root, data, path)
    else:
        return tuple(entry.account(defaults.default_account) for entry in parsed.accounts)
    # Raised outside the `except`: the ValidationError repeats the file's values (an api_url may
    # hold user:password@) and must not travel as the SettingsError's context.
    raise problem


def _settings_error(exc: ValidationError, root: yaml.Node, data: Any, path: str) -> SettingsError:
    """pydantic's first error (in the file's order) as one SettingsError naming the file and line."""
    errors = [_at_duplicate(error) for error in exc.errors(include_url=False, include_input=False)]
    line, error = first_located(errors, root, _node_loc)
    return SettingsError(f"{path} line {line}: {_message(tuple(error['loc']), error, root, data)}")


def _at_duplicate(error: Any) -> dict[str, Any]:
    """A duplicate name is reported at the repeated `name:`, not at the whole list."""
    if error["type"] == "duplicate_name":
        return {**error, "loc": ("accounts", error["ctx"]["index"], "name")}
    return dict(error)


def _node_loc(error: dict[str, Any]) -> tuple[Any, ...]:
    # Both ways to the credentials: the line of `api_secret:`, the one to remove or keep.
    loc = tuple(error["loc"])
    return loc + ("api_secret",) if error["type"] == "credentials_twice" else loc


def _entry(data: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
    try:
        entry = data["accounts"][loc[1]]
    except (KeyError, IndexError, TypeError):
        return {}
    return entry if isinstance(entry, dict) else {}


def _message(loc: tuple[Any, ...], error: dict[str, Any], root: yaml.Node, data: Any) -> str:
    kind = error["type"]
    in_account = len(loc) >= 2 and loc[0] == "accounts" and isinstance(loc[1], int)
    key = str(loc[-1]) if loc else ""
    if not in_account:
        if kind in UNKNOWN_KEY:
            return f"unknown top-level key {key!r}; the file holds `accounts:` only."
        if kind == "model_type":
            return "expected `accounts:` at the top level."
        if kind == "missing":
            return "`accounts:` is missing."
        if kind == "too_short":
            return "`accounts:` lists no account."
        return "`accounts:` must be a list."
    entry = _entry(data, loc)
    name = entry.get("name") if isinstance(entry.get("name"), str) else "name"
    if len(loc) == 2:
        if kind == "model_type":
            return "each account is a mapping (name: ..., api_id_env: ...)."
        if kind == "credentials_twice":
            return ("the account gives both api_secret and api_id_env / api_token_env; keep one way to its "
                    "credentials (the secret reference, or the names of the two variables).")
        if kind == "credentials_missing":
            lacking = [k for k in ("api_id_env", "api_token_env") if entry.get(k) in (None, "")]
            if len(lacking) == 1:
                return f"the account lacks {lacking[0]} (or give api_secret: {SECRET_REF_PREFIX}<name> instead)."
            return (f"the account lacks its credentials: give api_id_env and api_token_env (the NAMES of the "
                    f"variables holding the key), or api_secret: {SECRET_REF_PREFIX}<secret name or ARN>.")
    if kind == "missing":
        return f"the account lacks {key}."
    if kind in UNKNOWN_KEY:
        allowed = ", ".join(AccountEntry.model_fields)
        return f"unknown key {key!r}; allowed keys are {allowed}."
    if kind == "duplicate_name":
        first = line_of(root, ("accounts", error["ctx"]["first"], "name"))
        return f"account name {entry.get('name')!r} is already used on line {first}."
    if key == "name" and entry.get("name") == DEFAULT_ACCOUNT_KEY:
        return (f"account name {DEFAULT_ACCOUNT_KEY!r} is reserved for the single account of the AIRCALL_* "
                "variables; choose another name.")
    if key == "name":
        return (f"account name {entry.get('name')!r} must match [a-z][a-z0-9_]{{0,30}} "
                "(it becomes part of partition keys and tags).")
    if key in ("api_id_env", "api_token_env"):
        return (f"{key} must be the NAME of an environment variable (e.g. AIRCALL_{name.upper()}_API_ID), "
                "never the secret itself.")
    if key == "api_secret":
        return (f"api_secret must be {SECRET_REF_PREFIX}<secret name or ARN>: a reference to an AWS Secrets "
                "Manager secret holding {\"api_id\": ..., \"api_token\": ...}, never the secret itself.")
    if key == "rate_limit_per_minute":
        return "rate_limit_per_minute must be a whole number of at least 1."
    if key == "paused":
        return "paused must be true or false."
    if kind == "value_error":
        return f"{key}: {error['ctx']['error']}"
    return f"{key} must be text, got {entry.get(key)!r}."
