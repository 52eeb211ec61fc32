"""CompliancePolicy files and the roles / roster loaders: good files load normalised, bad files say
which file, which row and what is wrong."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from aircall_pipeline.compliance import rules as R
from aircall_pipeline.compliance.catalogue import DEFAULT_SHARED_PATTERNS
from aircall_pipeline.config.policy import (
    AccountException,
    CompliancePolicy,
    InputFileError,
    PolicyError,
    load_roles,
    load_roster,
)

# --------------------------------------------------------------------------------------------------
# Policy


def test_defaults():
    p = CompliancePolicy()
    assert (p.min_admins, p.max_admins, p.offboarding_sla_hours, p.dormant_days) == (2, 5, 24.0, 90)
    assert (p.recording_policy, p.recording_min_share, p.freshness_max_age_hours) == ("report", 1.0, 30.0)
    assert p.roles_uri is None and p.roster_uri is None and dict(p.exceptions) == {}
    assert p.shared_patterns == DEFAULT_SHARED_PATTERNS


def test_from_yaml_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "roles_uri: /etc/roles.csv\n"
        "max_admins: 3\n"
        "offboarding_sla_hours: 8\n"
        "recording_policy: required\n"
        "recording_min_share: 0.95\n"
        "exceptions:\n"
        "  ' Support@Acme.example ': {owner: jane@acme.example, reason: Support queue (TICKET-1)}\n"
    )
    p = CompliancePolicy.from_file(path)
    assert (p.roles_uri, p.max_admins, p.offboarding_sla_hours) == ("/etc/roles.csv", 3, 8.0)
    assert (p.recording_policy, p.recording_min_share) == ("required", 0.95)
    assert p.exceptions == {"support@acme.example": AccountException("jane@acme.example", "Support queue (TICKET-1)")}
    json.dumps(p.to_dict())
    with pytest.raises(TypeError):
        p.exceptions["x@y.z"] = AccountException("a", "b")  # read-only


def test_from_json_file_with_list_of_exceptions(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"dormant_days": 60, "shared_patterns": ["Support", "desk"],
                                "exceptions": [{"email": "desk@x.com", "owner": "o@x.com", "reason": "front desk"}]}))
    p = CompliancePolicy.from_file(path)
    assert p.dormant_days == 60 and p.shared_patterns == ("support", "desk")
    assert p.exceptions["desk@x.com"].owner == "o@x.com"


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "policy.yml"
    path.write_text("")
    assert CompliancePolicy.from_file(path) == CompliancePolicy()


def test_unknown_key_is_a_clear_error(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("max_admin: 3\n")
    with pytest.raises(PolicyError, match=r"policy\.yaml: unknown key\(s\) max_admin; allowed keys are .*max_admins"):
        CompliancePolicy.from_file(path)


@pytest.mark.parametrize("data, message", [
    ({"max_admins": "three"}, "max_admins='three' must be a whole number"),
    ({"min_admins": 4, "max_admins": 3}, "max_admins=3 must be at least 1 and at least min_admins"),
    ({"recording_policy": "always"}, "recording_policy='always' must be one of report, required, forbidden"),
    ({"recording_min_share": 95}, "recording_min_share=95.0 must be between 0 and 1"),
    ({"dormant_days": 0}, "dormant_days=0 must be at least 1"),
    ({"freshness_max_age_hours": True}, "must be a number"),
    ({"shared_patterns": "support"}, "shared_patterns must be a list"),
    ({"exceptions": {"support@x.com": {"owner": "o@x.com"}}}, r"exceptions\['support@x.com'\]: reason is required"),
    ({"exceptions": {"support@x.com": {"owner": "o", "reason": "r", "until": "2027"}}}, "unknown key"),
    ({"exceptions": {"not-an-email": {"owner": "o", "reason": "r"}}}, "must be an email address"),
    ({"roster_uri": ""}, "roster_uri='' must be a non-empty string"),
    # AC-11's keys (the webhook egress check)
    ({"approved_webhook_domains": "zapier.com"}, "approved_webhook_domains must be a list of domains"),
    ({"approved_webhook_domains": ["https://hooks.zapier.com/catch"]}, "entry 'https://hooks.zapier.com/catch' that is a URL"),
    ({"approved_webhook_domains": ["*.zapier.com"]}, "needs no wildcard"),
    ({"approved_webhook_domains": ["com"]}, "at least two labels"),
    ({"approved_webhook_domains": [42]}, "entry 42 that must be a non-empty domain"),
    ({"max_webhooks": -1}, "max_webhooks=-1 must be a whole number, 0 or more"),
    ({"max_webhooks": "20"}, "max_webhooks='20' must be a whole number"),
    ({"max_webhooks": True}, "max_webhooks=True must be a whole number"),
])
def test_bad_values_name_file_and_key(tmp_path, data, message):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PolicyError, match=message) as info:
        CompliancePolicy.from_file(path)
    assert str(path) in str(info.value)


def test_unreadable_or_malformed_files(tmp_path):
    with pytest.raises(PolicyError, match="cannot be read"):
        CompliancePolicy.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_admins: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        CompliancePolicy.from_file(bad)
    toml = tmp_path / "policy.toml"
    toml.write_text("x = 1")
    with pytest.raises(PolicyError, match="use a .yaml, .yml or .json file"):
        CompliancePolicy.from_file(toml)
    top = tmp_path / "list.json"
    top.write_text("[1, 2]")
    with pytest.raises(PolicyError, match="must be a mapping"):
        CompliancePolicy.from_file(top)


def test_with_overrides_ignores_unset_values():
    p = CompliancePolicy(roles_uri="/a.csv").with_overrides(roles_uri=None, roster_uri="/r.csv")
    assert (p.roles_uri, p.roster_uri) == ("/a.csv", "/r.csv")
    with pytest.raises(PolicyError):
        p.with_overrides(max_admins=0)


def test_policy_exceptions_feed_the_rules():
    from aircall_pipeline_tests.compliance import frames as F

    p = CompliancePolicy.from_dict({"exceptions": {"support@x.com": {"owner": "o@x.com", "reason": "queue"}}})
    users = F.users([{"email": "support@x.com"}, {"email": "sales@x.com"}])
    out = R.shared_accounts(users, patterns=p.shared_patterns, exceptions=p.exceptions)
    assert out.status == "fail"
    assert dict(zip(out.findings["email"], out.findings["status"], strict=True)) == {
        "support@x.com": "pass", "sales@x.com": "fail"}


# --------------------------------------------------------------------------------------------------
# Roles


def test_load_roles_csv_normalises(tmp_path):
    path = tmp_path / "roles.csv"
    path.write_text("\ufeffEmail , Role,Approved By\n  Jane@Acme.Example ,ADMIN,ciso\nbob@acme.example, Agent ,\n\n"
                    "jane@acme.example,admin,ciso\n")
    roles = load_roles(str(path))
    assert roles["email"].tolist() == ["bob@acme.example", "jane@acme.example"]
    assert roles["role"].tolist() == ["agent", "admin"]
    assert roles["approved_by"].tolist()[1] == "ciso"
    assert list(roles.columns) == ["email", "role", "name", "approved_by"]
    assert all(roles[c].dtype == "str" for c in roles.columns)


@pytest.mark.parametrize("doc", [
    [{"email": "a@x.com", "role": "Owner"}],
    {"roles": [{"email": "a@x.com", "role": "owner"}]},
    {"a@x.com": "owner"},
])
def test_load_roles_json_shapes(tmp_path, doc):
    path = tmp_path / "roles.json"
    path.write_text(json.dumps(doc))
    roles = load_roles(f"file://{path}")
    assert roles[["email", "role"]].values.tolist() == [["a@x.com", "owner"]]


def test_load_roles_errors_name_file_and_row(tmp_path):
    path = tmp_path / "roles.csv"
    path.write_text("email,role\na@x.com,admin\n,agent\nnot-an-email,agent\nb@x.com,\na@x.com,agent\n")
    with pytest.raises(InputFileError) as info:
        load_roles(str(path))
    msg = str(info.value)
    assert msg.startswith(str(path))
    for expected in ("line 3: email is empty", "line 4: 'not-an-email' is not an email address",
                     "line 5: role is empty", "line 6: a@x.com is declared as 'agent' but as 'admin' on line 2"):
        assert expected in msg


def test_load_roles_missing_column_and_missing_file(tmp_path):
    path = tmp_path / "roles.csv"
    path.write_text("email,permission\na@x.com,admin\n")
    with pytest.raises(InputFileError, match=r"roles\.csv: missing column\(s\) role; found email, permission"):
        load_roles(str(path))
    with pytest.raises(InputFileError, match="nope.csv: cannot be read"):
        load_roles(str(tmp_path / "nope.csv"))


def test_load_roles_through_a_reader_and_s3_without_one():
    seen = []

    def read_bytes(uri: str) -> bytes:
        seen.append(uri)
        return b"email,role\nA@x.com,Admin\n"

    roles = load_roles("s3://bucket/roles.csv", read_bytes=read_bytes)
    assert seen == ["s3://bucket/roles.csv"] and roles["email"].tolist() == ["a@x.com"]
    with pytest.raises(InputFileError, match="s3:// files need a reader"):
        load_roles("s3://bucket/roles.csv")

    def broken(uri: str) -> bytes:
        raise PermissionError("AccessDenied")

    with pytest.raises(InputFileError, match="s3://bucket/roles.csv: cannot be read .*AccessDenied"):
        load_roles("s3://bucket/roles.csv", read_bytes=broken)


# --------------------------------------------------------------------------------------------------
# Roster


def test_load_roster_csv_with_aliases_and_dates(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(
        "Work Email,Full Name,Employment Status,Termination Date,Salary\n"
        " Ann@X.com ,Ann,Active,,100\n"
        "bob@x.com,Bob,TERMINATED,2026-02-01,90\n"
        "cy@x.com,Cy,,2026-02-03T17:30:00+01:00,80\n"
        "dee@x.com,Dee,,,70\n"
    )
    roster = load_roster(str(path))
    assert list(roster.columns) == ["email", "name", "status", "terminated_at"]  # no salary: minimised
    assert roster["email"].tolist() == ["ann@x.com", "bob@x.com", "cy@x.com", "dee@x.com"]
    assert roster["status"].tolist() == ["active", "terminated", "terminated", "active"]
    assert str(roster["terminated_at"].dtype) == R.UTC_DTYPE
    assert roster["terminated_at"].tolist()[1:3] == [pd.Timestamp("2026-02-01T00:00Z"),
                                                    pd.Timestamp("2026-02-03T16:30Z")]
    assert pd.isna(roster["terminated_at"].iloc[0])


def test_load_roster_json(tmp_path):
    path = tmp_path / "people.json"
    path.write_text(json.dumps({"employees": [{"email": "a@x.com", "status": "offboarded",
                                               "terminated_at": "2026-02-01T10:00:00Z"}]}))
    roster = load_roster(str(path))
    assert roster.iloc[0]["status"] == "offboarded"
    assert roster.iloc[0]["terminated_at"] == pd.Timestamp("2026-02-01T10:00Z")


def test_load_roster_bad_dates_name_the_row(tmp_path):
    path = tmp_path / "roster.json"
    path.write_text(json.dumps([{"email": "a@x.com", "status": "terminated", "terminated_at": "03/02/2026"},
                                {"email": "b@x.com", "status": "terminated", "terminated_at": "2026-02-30"}]))
    with pytest.raises(InputFileError) as info:
        load_roster(str(path))
    msg = str(info.value)
    assert "record 1: terminated_at '03/02/2026' is not an ISO 8601 date" in msg
    assert "record 2: terminated_at '2026-02-30' is not a valid date" in msg


def test_load_roster_needs_status_or_date(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("email,name\na@x.com,A\n")
    with pytest.raises(InputFileError, match=r"missing column\(s\) status or terminated_at"):
        load_roster(str(path))


def test_loaded_roster_drives_offboarding(tmp_path):
    from aircall_pipeline_tests.compliance import frames as F

    path = tmp_path / "roster.csv"
    path.write_text("email,status,terminated_at\nPERSON0@example.com,terminated,2026-02-20\n")
    out = R.offboarding(F.users(F.user_rows(2)), load_roster(str(path)), as_of="2026-03-01T00:00:00Z")
    assert out.status == "fail" and out.findings["email"].tolist() == ["person0@example.com"]


# --------------------------------------------------------------------------------------------------
# Hostile policy values and input files


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize("key", ["offboarding_sla_hours", "recording_min_share", "freshness_max_age_hours"])
def test_nan_and_infinite_values_are_refused(tmp_path, key, value):
    path = tmp_path / "policy.yaml"
    path.write_text(f"{key}: {value}\n")
    with pytest.raises(PolicyError, match=rf"{path}.*{key}.*finite"):
        CompliancePolicy.from_file(path)


def test_a_non_utf8_policy_file_is_named(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_bytes("dormant_days: 30  # délai\n".encode("latin-1"))
    with pytest.raises(PolicyError, match=rf"policy file {path}: not UTF-8"):
        CompliancePolicy.from_file(path)


def test_oversized_policy_and_input_files_are_refused_before_parsing(tmp_path, monkeypatch):
    from aircall_pipeline.config import policy as P

    monkeypatch.setattr(P, "MAX_POLICY_BYTES", 64)
    monkeypatch.setattr(P, "MAX_INPUT_BYTES", 64)
    big_policy = tmp_path / "policy.yaml"
    big_policy.write_text("dormant_days: 30\n" * 10)
    with pytest.raises(PolicyError, match=rf"{big_policy}: larger than"):
        CompliancePolicy.from_file(big_policy)
    big_roster = tmp_path / "roster.csv"
    big_roster.write_text("email,status\n" + "a@x.com,active\n" * 10)
    with pytest.raises(InputFileError, match=rf"{big_roster}: larger than"):
        load_roster(str(big_roster))


@pytest.mark.parametrize("loader, text", [
    (load_roster, 'email,status\n"person0@example.com,active\nperson1@example.com,terminated\n'),
    (load_roles, 'email,role\nperson0@example.com,"admin"x\n'),
])
def test_an_unbalanced_quote_is_an_input_error_naming_the_file(tmp_path, loader, text):
    path = tmp_path / "owner.csv"
    path.write_text(text)
    with pytest.raises(InputFileError, match=rf"{path}: not valid CSV at line \d"):
        loader(str(path))


def test_policy_statuses_are_normalised_like_roster_statuses():
    policy = CompliancePolicy.from_dict({"terminated_statuses": ["Alumni - Left"], "active_statuses": ["On_Bench"]})
    assert policy.terminated_statuses == ("alumni left",) and policy.active_statuses == ("on bench",)
    assert policy.to_dict()["terminated_statuses"] == ["alumni left"]
