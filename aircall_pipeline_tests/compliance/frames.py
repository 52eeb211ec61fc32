"""Builders of small, typed frames matching the normalised schemas in docs/architecture.md.

Each builder takes a list of partial row dicts; missing columns get a default (or null), and every
column gets the schema's dtype, so tests exercise the same dtypes the ingest assets produce:
ids int64 (nullable Int64 where the API may send null), timestamps datetime64[us, UTC], text `str`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

UTC = "datetime64[us, UTC]"

USERS = {
    "user_id": "int64", "name": "str", "email": "str", "created_at": UTC, "available": "boolean",
    "availability_status": "str", "substatus": "str", "time_zone": "str", "language": "str",
    "wrap_up_time": "Int64", "state": "str", "extension": "str", "default_number_id": "Int64", "extra": "str",
}
COMPANY = {"name": "str", "users_count": "Int64", "numbers_count": "Int64", "api_url": "str", "collected_at": UTC}
TEAMS = {"team_id": "int64", "name": "str", "created_at": UTC, "member_count": "Int64", "extra": "str"}
TEAM_MEMBERS = {"team_id": "int64", "team_name": "str", "user_id": "int64", "user_email": "str"}
NUMBERS = {
    "number_id": "int64", "name": "str", "digits": "str", "country": "str", "time_zone": "str",
    "availability_status": "str", "live_recording_activated": "boolean", "created_at": UTC, "user_count": "Int64",
    "extra": "str",
}
NUMBER_USERS = {"number_id": "int64", "user_id": "int64"}
CALLS = {
    "call_id": "int64", "sid": "str", "direction": "str", "status": "str", "missed_call_reason": "str",
    "started_at": UTC, "answered_at": UTC, "ended_at": UTC, "duration": "Int64", "archived": "boolean",
    "user_id": "Int64", "user_email": "str", "assigned_to_id": "Int64", "transferred_by_id": "Int64",
    "transferred_to_id": "Int64", "number_id": "Int64", "team_ids": "str", "external_country_code": "str",
    "external_number_hash": "str", "has_recording": "boolean", "has_voicemail": "boolean",
    "comments_count": "Int64", "tag_names": "str", "country_code_a2": "str", "pricing_type": "str",
}
CALL_WINDOWS = {"window_from": UTC, "window_to": UTC, "meta_total": "Int64", "fetched": "Int64", "complete": "boolean"}
ROLES = {"email": "str", "role": "str"}
ROSTER = {"email": "str", "name": "str", "status": "str", "terminated_at": UTC}
ACTIVITY = {"user_id": "Int64", "last_call_at": UTC, "calls": "int64"}


def frame(schema: Mapping[str, str], rows: Iterable[Mapping[str, Any]] = (), **defaults: Any) -> pd.DataFrame:
    """A frame with exactly the schema's columns and dtypes; unknown keys in rows are an error."""
    rows = [dict(r) for r in rows]
    for r in rows:
        unknown = set(r) - set(schema)
        if unknown:
            raise KeyError(f"columns not in the schema: {sorted(unknown)}")
    data = {}
    for col, dtype in schema.items():
        values = [r.get(col, defaults.get(col)) for r in rows]
        if dtype == UTC:
            data[col] = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601").astype(UTC)
        elif dtype == "int64":
            # int64 columns must not hold nulls; building through Python ints keeps ids > 2**53 exact.
            data[col] = pd.Series([int(v) for v in values], dtype="int64")
        else:
            data[col] = pd.Series(values, dtype=object).astype(dtype)
    return pd.DataFrame(data, columns=list(schema))


def users(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    rows = list(rows)
    for i, r in enumerate(rows):
        r.setdefault("user_id", 1000 + i)
        r.setdefault("created_at", "2025-01-01T00:00:00Z")
    return frame(USERS, rows, availability_status="available", time_zone="Etc/UTC", language="en-US")


def user_rows(n: int, *, domain: str = "example.com", start_id: int = 1000, created_at: str = "2025-01-01T00:00:00Z"):
    """n ordinary personal users (user_id start_id.., email person<i>@domain)."""
    return [{"user_id": start_id + i, "name": f"Person {i}", "email": f"person{i}@{domain}", "created_at": created_at}
            for i in range(n)]


def company(users_count: int | None = None, numbers_count: int | None = None, **extra: Any) -> pd.DataFrame:
    row = {"name": "Acme", "users_count": users_count, "numbers_count": numbers_count,
           "api_url": "https://api.aircall.io", "collected_at": "2026-03-01T02:00:00Z", **extra}
    return frame(COMPANY, [row])


def teams(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(TEAMS, rows)


def team_members(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(TEAM_MEMBERS, rows)


def numbers(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(NUMBERS, rows)


def number_users(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(NUMBER_USERS, rows)


def calls(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    rows = list(rows)
    for i, r in enumerate(rows):
        r.setdefault("call_id", 5_000_000_000 + i)
        r.setdefault("has_recording", False)
    return frame(CALLS, rows, direction="inbound", status="done")


def call_windows(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(CALL_WINDOWS, rows)


def roles(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(ROLES, rows)


def roster(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(ROSTER, rows)


def activity(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(ACTIVITY, rows, calls=1)
