"""The owner's inputs as sealed tables (owner_inputs.py): the policy survives its JSON exactly, files
are hashed as read, a broken file's error is recorded and raised again, and the tables survive the
evidence store as the rules read them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from aircall_pipeline.compliance.owner_inputs import (
    POLICY,
    ROLES,
    ROSTER,
    collect_owner_inputs,
    policy_json,
    sealed_policy,
    sealed_roles,
    sealed_roster,
)
from aircall_pipeline.config.policy import (
    AccountException,
    CompliancePolicy,
    InputFileError,
    PolicyError,
    load_roles,
    load_roster,
)

EVERY_FIELD_SET = CompliancePolicy(
    roles_uri="s3://owner-bucket/roles.csv", roster_uri="/etc/aircall/roster.json", min_admins=1, max_admins=3,
    privileged_roles=("owner", "admin"), offboarding_sla_hours=4.5, dormant_days=30, shared_patterns=("desk",),
    recording_policy="required", recording_min_share=0.95, freshness_max_age_hours=12.25,
    access_review_max_age_days=180, active_statuses=("on leave",), terminated_statuses=("alumni",),
    suspended_statuses=("frozen",), approved_webhook_domains=("zapier.com", "hooks.example.org"), max_webhooks=3,
    exceptions={"support@acme.example": AccountException("jane.doe@acme.example", "Support handset (TICKET-1)")},
)


def read(uri: str) -> bytes:
    return Path(uri).read_bytes()


def test_every_field_of_the_policy_is_covered_by_the_round_trip_case():
    # If a field is added to CompliancePolicy, this fails until the round trip below covers it.
    default = CompliancePolicy()
    assert [f.name for f in dataclasses.fields(CompliancePolicy)
            if getattr(EVERY_FIELD_SET, f.name) == getattr(default, f.name)] == []


@pytest.mark.parametrize("policy", [
    CompliancePolicy(),
    EVERY_FIELD_SET,
    # An empty allow-list approves nothing; None means none is configured. They must stay apart.
    CompliancePolicy(approved_webhook_domains=()),
], ids=["defaults", "every-field", "empty-allow-list"])
def test_the_policy_round_trips_exactly_through_its_json(policy):
    text = policy_json(policy)
    again = CompliancePolicy.from_dict(json.loads(text))
    assert again == policy
    assert policy_json(again) == text  # and the sealed text is canonical: same policy, same bytes


def test_nothing_configured_seals_the_defaults_and_empty_tables():
    tables = collect_owner_inputs(None, roles_uri=None, roster_uri=None, read_bytes=read)
    index = tables.index.set_index("input")
    assert index["configured"].tolist() == [False, False, False]
    assert index["error"].isna().all() and index["sha256"].isna().all()
    assert sealed_policy(tables.index) == CompliancePolicy()
    assert sealed_roles(tables.index, tables.roles) is None and sealed_roster(tables.index, tables.roster) is None
    assert tables.roles.empty and tables.roster.empty


def test_configured_files_are_hashed_as_read_and_survive_the_store(tmp_path, local_store):
    roles = tmp_path / "roles.csv"
    roles.write_text("email,role\nAda@Example.com ,Admin\ngrace@example.com,agent\n")
    roster = tmp_path / "roster.csv"
    roster.write_text("email,name,status,terminated_at\nada@example.com,Ada,active,\n"
                      "bob@example.com,Bob,terminated,2026-01-02\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_admins: 3\n")
    tables = collect_owner_inputs(str(policy), roles_uri=str(roles), roster_uri=str(roster), read_bytes=read)

    for table, frame in tables.as_dict().items():
        local_store.write_table(table, "2026-03-14", frame)
    index = local_store.read_table("owner_policy", "2026-03-14")
    sealed = index.set_index("input")
    for name, path in ((POLICY, policy), (ROLES, roles), (ROSTER, roster)):
        assert sealed.loc[name, "sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert sealed.loc[name, "bytes"] == path.stat().st_size
    assert sealed.loc[ROSTER, "rows"] == 2
    assert sealed_policy(index) == dataclasses.replace(CompliancePolicy(max_admins=3), roles_uri=str(roles),
                                                       roster_uri=str(roster))
    # The rules get, from the sealed files, exactly the frames the loaders give.
    pd.testing.assert_frame_equal(sealed_roles(index, local_store.read_table("owner_roles", "2026-03-14")),
                                  load_roles(str(roles)), check_dtype=True)
    pd.testing.assert_frame_equal(sealed_roster(index, local_store.read_table("owner_roster", "2026-03-14")),
                                  load_roster(str(roster)), check_dtype=True)


def test_the_environment_names_the_owner_files_before_the_policy_does(tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"roles_uri": str(tmp_path / "not-this.csv")}))
    roles = tmp_path / "roles.csv"
    roles.write_text("email,role\nada@example.com,admin\n")
    tables = collect_owner_inputs(str(policy), roles_uri=str(roles), roster_uri=None, read_bytes=read)
    assert sealed_policy(tables.index).roles_uri == str(roles)
    assert len(sealed_roles(tables.index, tables.roles)) == 1


def test_a_broken_owner_file_is_recorded_and_raised_again_with_its_own_words(tmp_path):
    roles = tmp_path / "roles.csv"
    roles.write_text('email,role\nperson0@example.com,"admin"x\n')
    with pytest.raises(InputFileError) as direct:
        load_roles(str(roles))
    tables = collect_owner_inputs(None, roles_uri=str(roles), roster_uri=str(tmp_path / "missing.csv"),
                                  read_bytes=read)
    row = tables.index.set_index("input").loc[ROLES]
    assert (row["error_type"], row["error"]) == ("InputFileError", str(direct.value))
    assert row["sha256"] == hashlib.sha256(roles.read_bytes()).hexdigest()  # the broken file, as read
    assert tables.roles.empty
    with pytest.raises(InputFileError) as again:
        sealed_roles(tables.index, tables.roles)
    assert str(again.value) == str(direct.value)
    with pytest.raises(InputFileError, match="missing.csv: cannot be read"):
        sealed_roster(tables.index, tables.roster)
    assert pd.isna(tables.index.set_index("input").loc[ROSTER, "sha256"])  # nothing was read


def test_a_broken_policy_is_recorded_and_every_reader_gets_its_error(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("max_admin: 3\n")  # a typo: never silently the default
    with pytest.raises(PolicyError) as direct:
        CompliancePolicy.from_file(policy)
    tables = collect_owner_inputs(str(policy), roles_uri=None, roster_uri=None, read_bytes=read)
    index = tables.index.set_index("input")
    assert index.loc[POLICY, "sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    with pytest.raises(PolicyError) as again:
        sealed_policy(tables.index)
    assert str(again.value) == str(direct.value)
    with pytest.raises(PolicyError, match="the policy could not be loaded"):
        sealed_roles(tables.index, tables.roles)


@pytest.mark.parametrize("index", [
    pd.DataFrame({"nothing": [1]}),
    pd.DataFrame({"input": ["policy", "policy"], "error": [None, None], "policy_json": ["{}", "{}"]}),
    pd.DataFrame({"input": ["policy"], "error": [None], "policy_json": ["{not json"]}),
    pd.DataFrame({"input": ["policy"], "error": [None], "policy_json": ['{"max_admin": 3}']}),
], ids=["no-input-column", "two-policy-rows", "not-json", "unknown-key"])
def test_a_malformed_sealed_policy_is_an_input_error_not_a_crash(index):
    # ValueErrors: the rule's evaluation turns them into an `error` outcome, never an exception.
    with pytest.raises(ValueError):
        sealed_policy(index)
