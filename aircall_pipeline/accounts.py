"""The accounts file (`AIRCALL_ACCOUNTS_FILE`): several Aircall accounts in one deployment.

```yaml
accounts:
  - name: acme_eu                                   # [a-z][a-z0-9_]{0,30}: in asset keys, job names, tags
    api_id_env: AIRCALL_ACME_EU_API_ID              # names of variables, never the secrets themselves
    api_token_env: AIRCALL_ACME_EU_API_TOKEN
    api_url: https://api.aircall.io                 # every field below defaults to today's variables
    evidence_uri: s3://evidence/acme_eu
    timezone: Europe/Paris
    rate_limit_per_minute: 60
    schedule_cron: "15 2 * * *"
    roles_uri: s3://grc-inputs/acme_eu/roles.csv
    roster_uri: s3://grc-inputs/acme_eu/roster.csv
    policy_file: policies/acme_eu.yaml
    paused: false                                   # true: registered, not scheduled
```

Every mistake (YAML syntax, an unknown key, a duplicate or invalid name, a missing or malformed
variable name, a bad value) is one `SettingsError` naming the file and the line. Like every
setting, it never stops the definitions from loading: runs then fail with a `config` alert.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from aircall_pipeline.settings import (
    ACCOUNTS_FILE_VAR,
    Account,
    Settings,
    SettingsError,
    check_timezone,
    validate_api_url,
)

NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
REQUIRED = ("name", "api_id_env", "api_token_env")
OPTIONAL = ("api_url", "evidence_uri", "timezone", "rate_limit_per_minute", "schedule_cron", "roles_uri",
            "roster_uri", "policy_file", "paused")
MAX_BYTES = 1024 * 1024


def load_accounts(path: str, defaults: Settings) -> tuple[Account, ...]:
    """The accounts of the file at `path`; fields it leaves out come from `defaults` (the variables)."""
    where = f"{ACCOUNTS_FILE_VAR}={path}"
    try:
        raw = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise SettingsError(f"{where}: cannot be read ({exc.strerror or exc}).") from None
    if len(raw) > MAX_BYTES:
        raise SettingsError(f"{where}: larger than 1 MiB; is it the right file?")
    try:
        root = yaml.compose(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"{where}: not UTF-8 text.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise SettingsError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc}).") from None
    entries = _accounts_node(root, path)
    accounts: list[Account] = []
    seen: dict[str, int] = {}
    for node in entries:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            raise SettingsError(f"{path} line {line}: each account is a mapping (name: ..., api_id_env: ...).")
        fields = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in REQUIRED + OPTIONAL:
                raise SettingsError(
                    f"{path} line {key_node.start_mark.line + 1}: unknown key {key!r}; allowed keys are "
                    f"{', '.join(REQUIRED + OPTIONAL)}.")
            fields[key] = (yaml.safe_load(yaml.serialize(value_node)), value_node.start_mark.line + 1)
        missing = [k for k in REQUIRED if k not in fields]
        if missing:
            raise SettingsError(f"{path} line {line}: the account lacks {', '.join(missing)}.")
        name, name_line = fields["name"]
        if not isinstance(name, str) or not NAME.match(name):
            raise SettingsError(f"{path} line {name_line}: account name {name!r} must match [a-z][a-z0-9_]{{0,30}} "
                                "(it becomes part of asset keys, job names and tags).")
        if name in seen:
            raise SettingsError(f"{path} line {name_line}: account name {name!r} is already used on line {seen[name]}.")
        seen[name] = name_line
        accounts.append(_account(path, name, fields, defaults))
    if not accounts:
        raise SettingsError(f"{path}: `accounts:` lists no account.")
    return tuple(accounts)


def _accounts_node(root: Any, path: str) -> list[Any]:
    if root is None:
        raise SettingsError(f"{path}: the file is empty; it must hold `accounts:` with a list of accounts.")
    if not isinstance(root, yaml.MappingNode):
        raise SettingsError(f"{path} line {root.start_mark.line + 1}: expected `accounts:` at the top level.")
    for key_node, value_node in root.value:
        if key_node.value != "accounts":
            raise SettingsError(f"{path} line {key_node.start_mark.line + 1}: unknown top-level key "
                                f"{key_node.value!r}; the file holds `accounts:` only.")
        if not isinstance(value_node, yaml.SequenceNode):
            raise SettingsError(f"{path} line {value_node.start_mark.line + 1}: `accounts:` must be a list.")
        return list(value_node.value)
    raise SettingsError(f"{path}: `accounts:` is missing.")


def _account(path: str, name: str, fields: dict[str, tuple[Any, int]], defaults: Settings) -> Account:
    def text(key: str, default: str | None) -> str | None:
        if key not in fields:
            return default
        value, line = fields[key]
        if value is None or value == "":
            return default
        if not isinstance(value, str):
            raise SettingsError(f"{path} line {line}: {key} must be text, got {value!r}.")
        return value

    def checked(key: str, check, default: Any) -> Any:
        value = text(key, None)
        if value is None:
            return default
        try:
            return check(value)
        except SettingsError as exc:
            raise SettingsError(f"{path} line {fields[key][1]}: {key}: {exc}") from None

    for key in ("api_id_env", "api_token_env"):
        value, line = fields[key]
        if not isinstance(value, str) or not VARIABLE.match(value):
            raise SettingsError(f"{path} line {line}: {key} must be the NAME of an environment variable "
                                f"(e.g. AIRCALL_{name.upper()}_API_ID), never the secret itself.")
    rate = defaults.rate_limit_per_minute
    if "rate_limit_per_minute" in fields:
        value, line = fields["rate_limit_per_minute"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SettingsError(f"{path} line {line}: rate_limit_per_minute must be a whole number of at least 1.")
        rate = value
    paused = False
    if "paused" in fields:
        value, line = fields["paused"]
        if not isinstance(value, bool):
            raise SettingsError(f"{path} line {line}: paused must be true or false.")
        paused = value
    return Account(
        name=name,
        api_url=checked("api_url", validate_api_url, defaults.api_url),
        evidence_uri=text("evidence_uri", defaults.evidence_uri),
        timezone=checked("timezone", check_timezone, defaults.timezone),
        rate_limit_per_minute=rate,
        schedule_cron=text("schedule_cron", defaults.schedule_cron),
        roles_uri=text("roles_uri", defaults.roles_uri),
        roster_uri=text("roster_uri", defaults.roster_uri),
        policy_file=text("policy_file", defaults.policy_file),
        api_id_env=fields["api_id_env"][0],
        api_token_env=fields["api_token_env"][0],
        paused=paused,
    )
