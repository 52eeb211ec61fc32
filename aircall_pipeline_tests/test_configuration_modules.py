"""The configuration's modules and their boundaries: settings.py reads the accounts file and the
secrets, which never import it back; the evidence library and the Aircall client import none of the
configuration; the policy, the accounts file and the environment are pydantic models that refuse
unknown keys and non-finite numbers in today's words (file and line, or variable and value)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from aircall_pipeline.config import accounts, settings
from aircall_pipeline.config.accounts import Account, load_accounts
from aircall_pipeline.config.policy import CompliancePolicy, PolicyError
from aircall_pipeline.config.settings import Environment, Settings, SettingsError
from aircall_pipeline.config.settings_error import SettingsError as SharedSettingsError
from aircall_pipeline.config.yaml_errors import first_located, line_of, load_with_nodes
from aircall_pipeline.evidence import variables
from aircall_pipeline_tests.imports import imported_modules

PACKAGE = Path(__file__).resolve().parents[1] / "aircall_pipeline"
CONFIGURATION = {"aircall_pipeline.config.settings", "aircall_pipeline.config.accounts", "aircall_pipeline.config.credentials",
                 "aircall_pipeline.registry", "aircall_pipeline.definitions"}


def imported(relative: str) -> set[str]:
    """Every aircall_pipeline module `relative` imports, at the top or inside a function."""
    return {name for name in imported_modules(PACKAGE / relative) if name.startswith("aircall_pipeline")}


# -- no cycle ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["config/accounts.py", "config/credentials.py", "config/settings_error.py",
                                    "config/urls.py", "config/yaml_errors.py"])
def test_the_modules_below_settings_never_import_it(module):
    assert "aircall_pipeline.config.settings" not in imported(module)


def top_level_modules(relative: str) -> set[str]:
    """The top-level aircall_pipeline modules `relative` imports (`aircall_pipeline.config.urls.X` -> `aircall_pipeline.config.urls`)."""
    return {".".join(name.split(".")[:3]) for name in imported(relative)}


def test_the_accounts_file_and_the_secrets_import_only_what_sits_below_them():
    assert top_level_modules("config/accounts.py") == {"aircall_pipeline.config.settings_error", "aircall_pipeline.config.urls",
                                                "aircall_pipeline.config.yaml_errors"}
    assert top_level_modules("config/credentials.py") == {"aircall_pipeline.config.accounts", "aircall_pipeline.config.settings_error"}
    assert imported("config/settings_error.py") == set()


def test_one_settings_error_and_one_account_whichever_module_names_them():
    assert settings.SettingsError is SharedSettingsError is accounts.SettingsError
    assert settings.Account is Account
    assert settings.SIGNING_KEY_VAR is variables.SIGNING_KEY_VAR
    assert (settings.TSA_URL_VAR, settings.TSA_CA_VAR, settings.PUBLIC_KEY_VAR) == (
        variables.TSA_URL_VAR, variables.TSA_CA_VAR, variables.PUBLIC_KEY_VAR)


@pytest.mark.parametrize("module", ["evidence/signing.py", "evidence/timestamping.py", "evidence/verify_time.py",
                                    "evidence/variables.py", "aircall/client.py"])
def test_the_libraries_import_no_configuration(module):
    assert not {name for name in imported(module) if name.rsplit(".", 1)[0] in CONFIGURATION
                or name in CONFIGURATION}


def test_the_settings_load_without_the_evidence_store():
    # settings.py imports evidence/variables.py: the package must not drag the store, pandas and the PDF in.
    code = ("import sys, aircall_pipeline.config.settings; "
            "print(sorted(m for m in ('aircall_pipeline.evidence.store', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.strip() == "[]"


# -- the accounts file ---------------------------------------------------------------------------------


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


ENTRY = "accounts:\n  - name: acme\n    api_id_env: ACME_ID\n    api_token_env: ACME_TOKEN\n"


@pytest.mark.parametrize("extra, message", [
    ("    colour: blue\n", "line 5: unknown key 'colour'; allowed keys are name,"),
    ("    rate_limit_per_minute: .inf\n", "line 5: rate_limit_per_minute must be a whole number of at least 1."),
    ("    rate_limit_per_minute: .nan\n", "line 5: rate_limit_per_minute must be a whole number of at least 1."),
    ("    rate_limit_per_minute: 0\n", "line 5: rate_limit_per_minute must be a whole number of at least 1."),
])
def test_an_account_refuses_unknown_keys_and_non_finite_numbers_by_file_and_line(tmp_path, extra, message):
    path = write(tmp_path / "accounts.yaml", ENTRY + extra)
    with pytest.raises(SettingsError) as info:
        load_accounts(path, Settings.defaults())
    assert str(info.value) == f"{path} {message}" or str(info.value).startswith(f"{path} {message}")


def test_the_accounts_file_needs_only_a_default_account_not_the_settings(tmp_path):
    class Defaults:
        default_account = Settings.defaults().default_account

    [acme] = load_accounts(write(tmp_path / "accounts.yaml", ENTRY), Defaults())
    assert (acme.name, acme.api_id_env, acme.evidence_uri) == ("acme", "ACME_ID", os.path.join("./evidence", "acme"))


def test_an_api_url_with_credentials_in_the_accounts_file_travels_in_no_exception(tmp_path):
    path = write(tmp_path / "accounts.yaml", ENTRY + "    api_url: https://id:s3cr3t-token@api.aircall.io\n")
    with pytest.raises(SettingsError, match=r"line 5: api_url: .*contains credentials") as info:
        load_accounts(path, Settings.defaults())
    chain, error = [], info.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert all("s3cr3t-token" not in str(e) for e in chain)


# -- YAML lines ----------------------------------------------------------------------------------------


def test_yaml_errors_name_the_line_of_the_key_or_the_value():
    root, data = load_with_nodes("a:\n  b: 1\n  c: [x, y]\n", "f.yaml")
    assert data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert (line_of(root, ("a", "c", 1)), line_of(root, ("a", "b"), key=True)) == (3, 2)
    errors = [{"type": "int_type", "loc": ("a", "c")}, {"type": "extra_forbidden", "loc": ("a", "c")}]
    assert first_located(errors, root) == (3, errors[1])  # on one line, the unknown key first
    with pytest.raises(SharedSettingsError, match=r"^f\.yaml line 2: not valid YAML"):
        load_with_nodes("a: 1\n  b: 2\n", "f.yaml")


# -- the policy -------------------------------------------------------------------------------------------


def test_the_policy_is_a_strict_frozen_pydantic_dataclass():
    config = CompliancePolicy.__pydantic_config__
    assert (config["extra"], config["allow_inf_nan"], config["strict"]) == ("forbid", False, True)
    with pytest.raises(AttributeError):
        CompliancePolicy().min_admins = 3  # type: ignore[misc]


def test_building_a_policy_in_code_raises_policy_errors_too():
    with pytest.raises(PolicyError, match=r"^policy: unknown key\(s\) max_admin; allowed keys are roles_uri,"):
        CompliancePolicy(max_admin=3)  # type: ignore[call-arg]
    with pytest.raises(PolicyError, match=r"^policy: freshness_max_age_hours=inf must be a finite number\.$"):
        CompliancePolicy(freshness_max_age_hours=float("inf"))
    with pytest.raises(PolicyError, match=r"^policy: max_admins=1 must be at least 1 and at least min_admins \(2\)"):
        CompliancePolicy(max_admins=1)


@pytest.mark.parametrize("text, message", [
    ("max_admin: 3\nmin_admin: 1\n", "unknown key(s) max_admin, min_admin; allowed keys are roles_uri,"),
    ("recording_min_share: .nan\n", "recording_min_share=nan must be a finite number."),
    ("min_admins: 4\nmax_admins: 3\ndormant_days: 0\n", "max_admins=3 must be at least 1 and at least min_admins (4)."),
])
def test_a_policy_file_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        CompliancePolicy.from_file(path)
    assert str(info.value).startswith(f"policy file {path}: {message}")


def test_the_policy_normalises_without_mutating_a_frozen_instance():
    policy = CompliancePolicy.from_dict({"shared_patterns": [" Desk "], "approved_webhook_domains": ["Zapier.com."],
                                         "exceptions": [{"email": " A@X.com ", "owner": " o ", "reason": " r "}],
                                         "offboarding_sla_hours": 8})
    assert policy.shared_patterns == ("desk",) and policy.approved_webhook_domains == ("zapier.com",)
    assert (policy.offboarding_sla_hours, type(policy.offboarding_sla_hours)) == (8.0, float)
    assert dict(policy.exceptions) == {"a@x.com": accounts_exception("o", "r")}
    assert CompliancePolicy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy


def accounts_exception(owner: str, reason: str):
    from aircall_pipeline.config.policy import AccountException

    return AccountException(owner, reason)


# -- the environment -------------------------------------------------------------------------------------


def test_the_environment_is_one_pydantic_model_named_by_the_variables():
    assert issubclass(Environment, BaseModel)
    aliases = {field.alias for field in Environment.model_fields.values()}
    assert {"AIRCALL_API_URL", "AIRCALL_TIMEZONE", "AIRCALL_PARTITIONS_START", variables.SIGNING_KEY_VAR,
            variables.TSA_URL_VAR, settings.HISTORY_DAYS_VAR} <= aliases


@pytest.mark.parametrize("variable, value, message", [
    ("AIRCALL_HISTORY_DAYS", "0", "AIRCALL_HISTORY_DAYS=0 must be at least 1."),
    ("AIRCALL_RATE_LIMIT_PER_MINUTE", "5.0", "AIRCALL_RATE_LIMIT_PER_MINUTE='5.0' is not a whole number."),
    ("AIRCALL_RATE_LIMIT_PER_MINUTE", "inf", "AIRCALL_RATE_LIMIT_PER_MINUTE='inf' is not a whole number."),
    ("EVIDENCE_RETENTION_DAYS", "0", "EVIDENCE_RETENTION_DAYS=0 must be at least 1."),
    ("AIRCALL_TIMEZONE", "Mars/Base", "AIRCALL_TIMEZONE='Mars/Base' is not an IANA timezone (e.g. Europe/Paris, UTC)."),
    ("AIRCALL_PARTITIONS_START", "20260101", "AIRCALL_PARTITIONS_START='20260101' is not a date in the form YYYY-MM-DD."),
])
def test_each_variable_is_refused_in_todays_words(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        Settings.from_env()
    assert str(info.value) == message
    assert info.value.__context__ is None  # pydantic's error, which repeats every value, stays behind


def test_an_empty_variable_is_an_unset_one(monkeypatch):
    for name in ("AIRCALL_RATE_LIMIT_PER_MINUTE", "AIRCALL_TIMEZONE", "EVIDENCE_RETENTION_DAYS", "EVIDENCE_SIGNING_KEY"):
        monkeypatch.setenv(name, "")
    read = Settings.from_env()
    assert (read.default_account.rate_limit_per_minute, read.default_account.timezone) == (60, "UTC")
    assert (read.retention_days, read.signing_key) == (None, None)
