"""An account's API key in AWS Secrets Manager (`api_secret: aws-secretsmanager:<name-or-arn>`), read
through moto's server on loopback (real HTTP, real boto3): resolved, cached, every failure said in
words, and the values in no message, exception, log record or alert."""

from __future__ import annotations

import base64
import json
import logging
import traceback
import uuid

import boto3
import pytest

from aircall_pipeline.commands.accounts import describe
from aircall_pipeline.config import credentials
from aircall_pipeline.config.settings import (
    Account,
    Settings,
    SettingsError,
    credentials_from_env,
    secret_values,
)
from aircall_pipeline.operations.alerts import scrub
from aircall_pipeline_tests.fixtures.s3 import REGION

API_ID = "id-from-secrets-manager-4471"
TOKEN = "tok-SM-SECRET-8c2f-do-not-leak"  # noqa: S105 - the string the test hunts for


@pytest.fixture
def sm(s3_env, monkeypatch):
    """A Secrets Manager client on moto's server, that server as the pipeline's endpoint, an empty
    cache and an empty record of resolved values, and a request counter."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", s3_env)
    monkeypatch.setattr(credentials, "_cache", {})
    monkeypatch.setattr(credentials, "_resolved", set())
    calls: list[str] = []
    real = credentials._client

    def counted(name):
        client = real(name)
        client.meta.events.register("before-send.secrets-manager.GetSecretValue",
                                    lambda **_: calls.append(name))
        return client

    monkeypatch.setattr(credentials, "_client", counted)
    client = boto3.session.Session().client("secretsmanager", endpoint_url=s3_env, region_name=REGION)
    client.requests = calls
    return client


def new_secret(sm, value: str | bytes) -> str:
    name = f"aircall/test-{uuid.uuid4().hex[:10]}"
    if isinstance(value, bytes):
        sm.create_secret(Name=name, SecretBinary=value)
    else:
        sm.create_secret(Name=name, SecretString=value)
    return name


def account(secret: str) -> Account:
    return Account(name="acme_eu", api_url="https://api.aircall.io", evidence_uri="./evidence", timezone="UTC",
                   rate_limit_per_minute=60, schedule_cron="15 2 * * *", api_id_env="", api_token_env="",
                   api_secret=f"aws-secretsmanager:{secret}")


def everything_about(error: BaseException) -> str:
    parts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def logged(caplog) -> str:
    return "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)


def test_the_key_is_read_from_the_secret_and_cached(sm, monkeypatch, caplog):
    name = new_secret(sm, json.dumps({"api_id": API_ID, "api_token": TOKEN}))
    caplog.set_level(logging.DEBUG)  # botocore logs response bodies at DEBUG
    now = [1000.0]
    monkeypatch.setattr(credentials, "_clock", lambda: now[0])
    assert credentials_from_env(account(name)) == (API_ID, TOKEN)
    assert credentials_from_env(account(name)) == (API_ID, TOKEN)
    assert sm.requests == [name]  # the second read came from the cache
    # The request really went over HTTP to the server (botocore logged it), but never a value.
    assert "GetSecretValue" in logged(caplog)
    assert TOKEN not in logged(caplog) and API_ID not in logged(caplog)
    # Rotated in Secrets Manager: the cache serves the old key until it expires, then reads again.
    sm.put_secret_value(SecretId=name, SecretString=json.dumps({"api_id": API_ID, "api_token": TOKEN + "-2"}))
    caplog.clear()  # the test's own client logged what it stored
    now[0] += credentials.CACHE_SECONDS - 1
    assert credentials_from_env(account(name)) == (API_ID, TOKEN)
    now[0] += 2
    assert credentials_from_env(account(name)) == (API_ID, TOKEN + "-2")
    assert sm.requests == [name, name]
    assert "GetSecretValue" in logged(caplog) and TOKEN not in logged(caplog) and API_ID not in logged(caplog)


def test_every_value_read_is_known_to_the_scrubber(sm):
    name = new_secret(sm, json.dumps({"api_id": API_ID, "api_token": TOKEN}))
    credentials_from_env(account(name))
    credentials.clear_cache()  # the scrubber keeps what it must redact even when the cache forgets
    assert (API_ID, TOKEN) in secret_values()
    basic = base64.b64encode(f"{API_ID}:{TOKEN}".encode()).decode()
    text = scrub(f"the run failed: token {TOKEN}, header Basic {basic} ({basic})")
    assert TOKEN not in text and basic not in text


def test_accounts_command_names_the_secret_never_its_value(sm):
    name = new_secret(sm, json.dumps({"api_id": API_ID, "api_token": TOKEN}))
    credentials_from_env(account(name))
    info = describe(account(name), Settings.defaults())
    assert info["credentials"] == f"aws-secretsmanager:{name}" and info["variables_set"] == {}
    assert TOKEN not in json.dumps(info) and API_ID not in json.dumps(info)
    env = describe(Settings.defaults().default_account, Settings.defaults())
    assert env["credentials"] == "AIRCALL_API_ID, AIRCALL_API_TOKEN" and set(env["variables_set"]) == {
        "AIRCALL_API_ID", "AIRCALL_API_TOKEN"}


@pytest.mark.parametrize("value, said", [
    (f"api_token={TOKEN}", "is not a JSON object"),
    (json.dumps([API_ID, TOKEN]), "is not a JSON object"),
    (json.dumps({"api_id": API_ID, "token": TOKEN}), "lacks api_token"),
    (json.dumps({"id": API_ID, "secret": TOKEN}), "lacks api_id and api_token"),
    (json.dumps({"api_id": API_ID, "api_token": "  "}), "empty or non-text api_token"),
    (json.dumps({"api_id": 4471, "api_token": TOKEN}), "empty or non-text api_id"),
    (f"{API_ID}:{TOKEN}".encode(), "holds binary data"),
])
def test_a_badly_shaped_secret_is_said_without_its_value(sm, caplog, value, said):
    name = new_secret(sm, value)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SettingsError) as info:
        credentials_from_env(account(name))
    text = everything_about(info.value)
    assert said in str(info.value) and name in str(info.value) and "acme_eu" in str(info.value)
    assert '{"api_id": "...", "api_token": "..."}' in str(info.value) or "Aircall Dashboard" in str(info.value)
    assert TOKEN not in text and API_ID not in text
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert TOKEN not in logged(caplog) and API_ID not in logged(caplog)
    assert (API_ID, TOKEN) not in secret_values()  # nothing was resolved


def test_a_missing_secret_is_named(sm):
    with pytest.raises(SettingsError) as info:
        credentials_from_env(account("aircall/nobody"))
    assert "has no secret 'aircall/nobody'" in str(info.value) and "correct api_secret" in str(info.value)
    assert info.value.__context__ is None


def test_access_denied_says_which_permission(sm, s3_env, s3_enforce_iam, monkeypatch, caplog):
    name = new_secret(sm, json.dumps({"api_id": API_ID, "api_token": TOKEN}))
    # A user allowed to read it, made before IAM enforcement starts (then only known keys are accepted).
    iam = boto3.session.Session().client("iam", endpoint_url=s3_env, region_name=REGION)
    reader = f"reader-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=reader)
    iam.put_user_policy(UserName=reader, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    allowed = iam.create_access_key(UserName=reader)["AccessKey"]
    key_id, secret_key = s3_enforce_iam([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SettingsError) as info:
        credentials_from_env(account(name))
    assert "was denied" in str(info.value) and "secretsmanager:GetSecretValue" in str(info.value)
    assert TOKEN not in everything_about(info.value) and TOKEN not in logged(caplog)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", allowed["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", allowed["SecretAccessKey"])
    assert credentials_from_env(account(name)) == (API_ID, TOKEN)
    assert TOKEN not in logged(caplog)


def test_an_unreachable_endpoint_is_said(sm, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9")
    with pytest.raises(SettingsError) as info:
        credentials_from_env(account("aircall/acme"))
    assert "could not be reached" in str(info.value) and "AWS_ENDPOINT_URL_SECRETS_MANAGER" in str(info.value)


def test_an_arn_gives_its_region():
    arn = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:aircall/acme-AbCdEf"
    assert credentials._region(arn) == "eu-west-3" and credentials._region("aircall/acme") is None


def test_an_account_with_variables_still_reads_them(monkeypatch):
    monkeypatch.setenv("AIRCALL_API_ID", "id-env")
    monkeypatch.setenv("AIRCALL_API_TOKEN", "tok-env")
    assert credentials_from_env(Settings.defaults().default_account) == ("id-env", "tok-env")
    assert credentials_from_env() == ("id-env", "tok-env")
