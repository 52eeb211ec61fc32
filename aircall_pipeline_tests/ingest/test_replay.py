"""Replay of recorded Aircall payloads (aircall_pipeline_tests/payloads/, sources in its README)
through the normalisers: no row dropped, every column of its declared type, known fields kept
without a warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from aircall_pipeline.ingest import normalize

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
KEY = b"replay-test-hash-key-of-32-bytes!"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def assert_typed(df: pd.DataFrame, schema) -> None:
    assert list(df.columns) == list(schema)
    assert {c: str(t) for c, t in df.dtypes.items()} == {c: str(t) for c, t in normalize.dtypes(schema).items()}


@pytest.mark.parametrize("name", ["calls_estuary_outbound.json", "calls_reference_lifecycle.json"])
def test_recorded_calls_keep_every_row_and_type(name, caplog):
    payload = load(name)
    caplog.set_level(logging.WARNING, logger=normalize.log.name)
    normalizer = normalize.CallNormalizer(KEY)
    normalizer.add_page(payload["calls"])
    df = normalizer.frame()

    assert len(df) == len(payload["calls"]) == payload["meta"]["total"]
    assert_typed(df, normalize.CALLS)
    assert df["call_id"].tolist() == [c["id"] for c in payload["calls"]]
    assert df["status"].tolist() == [c["status"] for c in payload["calls"]]
    assert not [r for r in caplog.records if "did not store" in r.getMessage()], "every field is known"
    for call, team_ids in zip(payload["calls"], df["team_ids"], strict=True):
        expected = ";".join(str(t["id"]) for t in call["teams"]) or None
        assert (None if pd.isna(team_ids) else team_ids) == expected  # `teams: []` is no team, not an error


def test_in_progress_and_ended_calls_keep_their_lifecycle():
    df = normalize.CallNormalizer(KEY)
    df.add_page(load("calls_reference_lifecycle.json")["calls"])
    frame = df.frame()
    assert frame["status"].tolist() == ["initial", "answered", "done"]
    assert frame["ended_at"].isna().tolist() == [True, True, False]
    assert frame["external_country_code"].tolist() == ["anonymous", "+33", "+44"]


def test_recorded_webhooks_keep_custom_name_without_a_warning(caplog):
    payload = load("webhooks_estuary_and_custom_name.json")
    caplog.set_level(logging.WARNING, logger=normalize.log.name)
    df = normalize.webhooks_frame(payload["webhooks"])
    assert len(df) == len(payload["webhooks"])
    assert_typed(df, normalize.WEBHOOKS)
    assert df["custom_name"].tolist()[1] == "CRM call sync" and pd.isna(df["custom_name"].tolist()[0])
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert "REDACTED" not in df.to_csv()  # the token never reaches a table


def test_recorded_users_teams_and_numbers_keep_every_row_and_type():
    payload = load("users_teams_numbers_estuary.json")
    users = normalize.users_frame(payload["users"])
    teams, members = normalize.teams_frames(payload["teams"])
    numbers, links = normalize.numbers_frames(payload["numbers"])
    assert (len(users), len(teams), len(members), len(numbers), len(links)) == (2, 2, 1, 1, 1)
    for df, schema in ((users, normalize.USERS), (teams, normalize.TEAMS), (members, normalize.TEAM_MEMBERS),
                       (numbers, normalize.NUMBERS), (links, normalize.NUMBER_USERS)):
        assert_typed(df, schema)
    assert users["created_at"].notna().all(), "ISO timestamps with and without milliseconds both parse"
    assert users["name"].tolist() == ["Jonathan Wihl", ""]
    assert numbers["vanished"].tolist() == [False]
