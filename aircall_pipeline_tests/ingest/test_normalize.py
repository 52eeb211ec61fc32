"""Normalisation keeps what access review needs, types it, and drops what must not be stored."""

import json

import pandas as pd
import pytest

from aircall_pipeline.ingest import normalize

KEY = b"test-key:account"
SIGNED = "https://recordings.example/abc.mp3?X-Amz-Signature=deadbeef"


def test_users_tolerates_odd_records_and_keeps_unknown_fields():
    df = normalize.users_frame([
        {"id": 1, "name": "Ada", "email": " ada@x.io ", "created_at": "2025-09-15T12:14:21Z", "available": True,
         "brand_new_field": "kept"},
        {"id": 2, "name": "", "email": None, "created_at": "2025-09-15T12:14:21.000Z", "available": None},
        {"id": 3, "created_at": "not a date"},
    ])
    assert list(df.columns) == list(normalize.USERS)
    assert df["user_id"].dtype == "Int64"
    assert str(df["created_at"].dtype) == "datetime64[us, UTC]"
    assert df["created_at"].iloc[0] == df["created_at"].iloc[1] == pd.Timestamp("2025-09-15T12:14:21Z")
    assert pd.isna(df["created_at"].iloc[2])
    assert df["email"].iloc[0] == "ada@x.io"
    assert json.loads(df["extra"].iloc[0]) == {"brand_new_field": "kept"}
    assert pd.isna(df["extra"].iloc[1])


def test_empty_inputs_give_typed_empty_tables():
    for name, df in [("users", normalize.users_frame([])), ("teams", normalize.teams_frames([])[0]),
                     ("calls", normalize.CallNormalizer(KEY).frame())]:
        assert len(df) == 0
        assert list(df.columns) == list(normalize.SCHEMAS[name])


def test_teams_flatten_members():
    teams, members = normalize.teams_frames([
        {"id": 10, "name": "Support", "created_at": "2025-01-01T00:00:00.000Z",
         "users": [{"id": 1, "email": "a@x.io"}, {"id": 2, "email": "b@x.io"}]},
        {"id": 11, "name": "Empty", "users": []},
    ])
    assert teams["member_count"].tolist() == [2, 0]
    assert members[["team_id", "user_id"]].values.tolist() == [[10, 1], [10, 2]]


def test_numbers_link_users():
    numbers, links = normalize.numbers_frames([
        {"id": 5, "name": "Main", "digits": "+33 1 23 45 67 89", "live_recording_activated": True,
         "users": [{"id": 1}, {"id": 2}], "messages": {"welcome": "https://x/y.mp3"}},
        {"id": 6, "name": "Spare", "users": []},
    ])
    assert numbers["user_count"].tolist() == [2, 0]
    assert links["user_id"].tolist() == [1, 2]
    assert "messages" not in numbers.columns and pd.isna(numbers["extra"].iloc[0])


def _call(**overrides):
    call = {
        "id": 2**62 + 7, "sid": "CA1", "direction": "inbound", "status": "done", "started_at": 1764115200,
        "answered_at": 1764115205, "ended_at": 1764115260, "duration": 60, "archived": False,
        "raw_digits": "+33 6 12 34 56 78", "recording": SIGNED, "voicemail": None,
        "user": {"id": 1, "email": "ada@x.io", "name": "Ada"},
        "comments": [{"id": 1, "content": "card number is 4111 1111 1111 1111", "posted_at": 1764115300}],
        "teams": [{"id": 10}, {"id": 11}], "tags": [{"id": 1, "name": "Lead"}], "number": {"id": 5},
        "asset": "https://assets.example/secure", "unknown_thing": "?",
    }
    call.update(overrides)
    return call


def test_calls_are_minimised_and_typed():
    norm = normalize.CallNormalizer(KEY)
    norm.add_page([_call(), _call(id=2, raw_digits="anonymous", recording=None, user=None, teams=None)])
    df = norm.frame()
    assert df["call_id"].iloc[0] == 2**62 + 7  # 64-bit ids survive
    assert df["started_at"].iloc[0] == pd.Timestamp(1764115200, unit="s", tz="UTC")
    assert df["has_recording"].tolist() == [True, False]
    assert df["comments_count"].iloc[0] == 1
    assert df["team_ids"].iloc[0] == "10;11"
    assert df["external_country_code"].tolist() == ["+33", "anonymous"]
    assert pd.isna(df["user_id"].iloc[1])
    assert norm.unknown_fields == {"unknown_thing"}
    flat = df.to_csv()
    for forbidden in ("X-Amz-Signature", "4111", "12 34 56 78", "612345678", "assets.example", "unknown_thing"):
        assert forbidden not in flat


def test_external_number_hash_is_keyed_and_format_independent():
    a = normalize.external_number("+33 6 12 34 56 78", KEY)
    b = normalize.external_number("+33-6-12-34-56-78", KEY)
    c = normalize.external_number("+33 6 12 34 56 78", b"other-key")
    assert a == b and a[0] == "+33"
    assert a[1] != c[1]
    assert normalize.external_number("+1 617-610-5413", KEY)[0] == "+1"
    assert normalize.external_number(None, KEY) == (None, None)


@pytest.mark.parametrize("value,expected", [(True, True), ("false", False), (None, None), (0, False)])
def test_bool_parsing(value, expected):
    df = normalize.users_frame([{"id": 1, "available": value}])
    result = df["available"].iloc[0]
    assert (pd.isna(result) and expected is None) or result == expected


# -- webhooks: the destination, never the secrets ------------------------------------------------


def test_webhooks_keep_scheme_and_host_and_never_a_secret(caplog):
    from aircall_pipeline.sandbox.data import WEBHOOK_EXTRA_FIELD, SandboxAccount

    account = SandboxAccount(calls=0)
    with caplog.at_level("WARNING", logger=normalize.__name__):
        df = normalize.webhooks_frame(account.webhooks)
    assert list(df.columns) == list(normalize.WEBHOOKS) == list(normalize.SCHEMAS["webhooks"])
    assert df["webhook_id"].tolist() == [w["webhook_id"] for w in account.webhooks]
    assert df["url_domain"].tolist() == ["hooks.zapier.example", "api.crm-partner.example",
                                         "pbx-bridge.northwind-trading.example", "requestbin.example",
                                         "hooks.slack.example", "ingest.warehouse.example"]
    assert df["url_scheme"].tolist() == ["https", "https", "http", "https", "https", "https"]
    assert df["active"].tolist() == [w["active"] for w in account.webhooks]
    assert df["events"].tolist()[:2] == ["call.answered;call.ended", ""]  # "" = every event
    assert df["event_count"].tolist()[:2] == [2, 0]
    assert str(df["created_at"].dtype) == "datetime64[us, UTC]"
    # No token, no URL secret (path, query, userinfo), no port, no unknown field in any form.
    for text in (df.to_csv(), df.to_json(date_format="iso"), repr(df.to_dict())):
        for forbidden in [*account.webhook_secrets(), "whsec", "urlsec", "api_key", "/hooks/catch", "8443",
                          "aircall:", WEBHOOK_EXTRA_FIELD, "failing"]:
            assert forbidden not in text
    # The unknown field is named in the log (it was dropped), its value is not.
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert WEBHOOK_EXTRA_FIELD in logged and "failing" not in logged


@pytest.mark.parametrize("url, expected", [
    ("https://user:pw@Hooks.Example.COM:8443/p/SECRET?key=SECRET#f", ("https", "hooks.example.com")),
    ("HTTP://example.com./x", ("http", "example.com")),
    ("hooks.example.com/SECRET", (None, "hooks.example.com")),  # no scheme: never https
    ("user:SECRET@hooks.example.com:99/x", (None, "hooks.example.com")),  # not a "user" scheme
    ("https://[2001:db8::1]:443/x", ("https", "2001:db8::1")),
    ("https://SECRET@/x", ("https", None)),
    ("http://[unbalanced/x", (None, None)),
    ("", (None, None)),
    (None, (None, None)),
    (42, (None, None)),
])
def test_url_destination_is_scheme_and_host_only(url, expected):
    assert normalize.url_destination(url) == expected


def test_odd_webhook_records_do_not_crash():
    df = normalize.webhooks_frame([
        {"id": 7, "url": "https://a.example/x", "events": "call.ended", "active": "true"},  # no webhook_id
        {"webhook_id": "w2", "url": None, "events": None, "active": None, "created_at": "not a date"},
        {"webhook_id": "w3", "url": "https://b.example", "events": ["call.ended", "call.ended", "", None]},
        "not a webhook",
    ])
    assert df["webhook_id"].tolist() == ["7", "w2", "w3"]
    assert df["events"].iloc[0] == "call.ended" and df["active"].iloc[0]
    assert pd.isna(df["events"].iloc[1]) and pd.isna(df["event_count"].iloc[1])  # unknown, not "all"
    assert pd.isna(df["url_domain"].iloc[1]) and pd.isna(df["created_at"].iloc[1])
    assert (df["events"].iloc[2], df["event_count"].iloc[2]) == ("call.ended", 1)
    assert len(normalize.webhooks_frame([])) == 0
