"""Builders of small, typed frames matching the normalised schemas in docs/architecture.md.

Each builder takes a list of partial row dicts; missing columns get a default (or null), and every
column gets the schema's dtype. The schemas of the pipeline's tables are `ingest/normalize.SCHEMAS`
dtypes, so tests exercise exactly the dtypes the ingest assets produce: ids and counts nullable
`Int64`, timestamps `datetime64[us, UTC]`, text `str`, flags `boolean`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from aircall_pipeline.ingest import normalize

UTC = normalize.TS

# The pipeline's own tables: exactly the dtypes ingest/normalize.py produces (one source of truth;
# test_frames.py checks it against frames the pipeline really builds).
USERS = normalize.dtypes(normalize.USERS)
COMPANY = normalize.dtypes(normalize.COMPANY)
TEAMS = normalize.dtypes(normalize.TEAMS)
TEAM_MEMBERS = normalize.dtypes(normalize.TEAM_MEMBERS)
NUMBERS = normalize.dtypes(normalize.NUMBERS)
NUMBER_USERS = normalize.dtypes(normalize.NUMBER_USERS)
CALLS = normalize.dtypes(normalize.CALLS)
CALL_WINDOWS = normalize.dtypes(normalize.CALL_WINDOWS)
WEBHOOKS = normalize.dtypes(normalize.WEBHOOKS)
# Inputs the pipeline does not normalise itself: the owner's files and the rules' activity table.
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


def webhooks(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(WEBHOOKS, rows, url_scheme="https", active=True, events="")


def roles(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(ROLES, rows)


def roster(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(ROSTER, rows)


def activity(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    return frame(ACTIVITY, rows, calls=1)
