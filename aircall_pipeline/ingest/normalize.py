"""Aircall JSON -> flat, typed, minimised tables (schemas in docs/architecture.md).

Pure functions, no I/O. Two rules shape everything here:
- Be liberal in what we accept: nulls, empty names, ISO timestamps with or without milliseconds,
  unknown fields. Nothing in a record may crash a day's evidence.
- Keep only what access review needs. Recording and voicemail URLs are signed bearer links, comment
  text is free-form personal data, and the external party's number is personal data: they are
  reduced to `has_recording`, `comments_count` and country code + keyed hash.
- Never store a secret. A webhook's `token` is a live shared secret and its URL's userinfo, path and
  query often carry credentials too: a webhook is reduced to its destination's scheme and host.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import pandas as pd

from aircall_pipeline.redaction import url_destination

log = logging.getLogger(__name__)

TS = "datetime64[us, UTC]"

# Column kinds: "id" -> Int64 (64-bit, nullable), "int" -> Int64, "str" -> str, "bool" -> boolean,
# "ts_iso" -> parsed ISO-8601 string, "ts_unix" -> unix seconds, "ts" -> already a datetime.
# DTYPES is the pandas dtype each kind becomes: `frame` casts to it, and the tests build their frames
# from it (aircall_pipeline_tests/compliance/frames.py).
DTYPES = {"id": "Int64", "int": "Int64", "str": "str", "bool": "boolean", "ts_iso": TS, "ts_unix": TS, "ts": TS}
COMPANY = {"name": "str", "users_count": "int", "numbers_count": "int", "api_url": "str", "collected_at": "ts"}
USERS = {
    "user_id": "id", "name": "str", "email": "str", "created_at": "ts_iso", "available": "bool",
    "availability_status": "str", "substatus": "str", "time_zone": "str", "language": "str",
    "wrap_up_time": "int", "state": "str", "extension": "str", "default_number_id": "id", "extra": "str",
}
TEAMS = {"team_id": "id", "name": "str", "created_at": "ts_iso", "member_count": "int", "extra": "str"}
TEAM_MEMBERS = {"team_id": "id", "team_name": "str", "user_id": "id", "user_email": "str"}
NUMBERS = {
    "number_id": "id", "name": "str", "digits": "str", "country": "str", "time_zone": "str",
    "availability_status": "str", "live_recording_activated": "bool", "created_at": "ts_iso",
    "user_count": "int", "extra": "str", "vanished": "bool",
}
NUMBER_USERS = {"number_id": "id", "user_id": "id"}
CALLS = {
    "call_id": "id", "sid": "str", "direction": "str", "status": "str", "missed_call_reason": "str",
    "started_at": "ts_unix", "answered_at": "ts_unix", "ended_at": "ts_unix", "duration": "int",
    "archived": "bool", "user_id": "id", "user_email": "str", "assigned_to_id": "id",
    "transferred_by_id": "id", "transferred_to_id": "id", "number_id": "id", "team_ids": "str",
    "external_country_code": "str", "external_number_hash": "str", "has_recording": "bool",
    "has_voicemail": "bool", "comments_count": "int", "tag_names": "str", "country_code_a2": "str",
    "pricing_type": "str",
}
# `status`: "complete", "incomplete" or "not collectable" (an empty answer for a window older than
# every call the API still serves: past its history, see AircallClient.iter_call_pages).
# `total_changes`: later pages whose meta.total differed from the first page's (which is the total).
CALL_WINDOWS = {"window_from": "ts", "window_to": "ts", "meta_total": "int", "fetched": "int", "complete": "bool",
                "status": "str", "total_changes": "int"}
# `events` is `;`-joined; an empty string means the webhook receives every event (Aircall's meaning
# of an empty list), null that the API did not say.
WEBHOOKS = {
    "webhook_id": "str", "custom_name": "str", "url_domain": "str", "url_scheme": "str", "active": "bool",
    "events": "str", "event_count": "int", "created_at": "ts_iso",
}

SCHEMAS: dict[str, Mapping[str, str]] = {
    "company": COMPANY, "users": USERS, "teams": TEAMS, "team_members": TEAM_MEMBERS, "numbers": NUMBERS,
    "number_users": NUMBER_USERS, "calls": CALLS, "call_windows": CALL_WINDOWS, "webhooks": WEBHOOKS,
}

# Fields of the raw objects we map explicitly (or drop on purpose); anything else is "unknown".
_USER_KNOWN = {"id", "direct_link", "name", "email", "created_at", "available", "availability_status", "substatus",
               "time_zone", "language", "wrap_up_time", "state", "extension", "default_number_id", "numbers"}
_TEAM_KNOWN = {"id", "name", "direct_link", "created_at", "users"}
_NUMBER_KNOWN = {"id", "direct_link", "name", "digits", "country", "time_zone", "open", "availability_status",
                 "is_ivr", "live_recording_activated", "priority", "messages", "created_at", "users",
                 "flow_editor_enabled", "e164_digits"}
_CALL_KNOWN = {"id", "sid", "direct_link", "direction", "status", "missed_call_reason", "started_at", "answered_at",
               "ended_at", "duration", "archived", "cost", "voicemail", "recording", "recording_short_url",
               "voicemail_short_url", "asset", "raw_digits", "user", "contact", "assigned_to", "transferred_by",
               "transferred_to", "comments", "number", "teams", "tags", "country_code_a2", "pricing_type",
               "participants", "conference_participants", "ivr_options_selected", "ai_voice_agents",
               "external_transferred_to", "external_caller_number", "automatic_callback_call_id"}
# `token`, `url` and `direct_link` are read (the URL for its scheme and host) but never stored.
# `custom_name` is the label a webhook is created with (`POST /v1/webhooks` takes it, see "Create a
# Webhook" at https://developer.aircall.io/api-references/; Estuary's seeding request sends it:
# https://github.com/estuary/connectors/tree/main/source-aircall-native/bruno/Seeding). Estuary's
# 2026-09-28 probe did not see it echoed by the list, but accounts do return it, and it names the
# destination for a reviewer: it is kept, not warned about and dropped.
_WEBHOOK_KNOWN = {"id", "webhook_id", "custom_name", "direct_link", "url", "active", "events", "token", "created_at"}


def dtypes(schema: Mapping[str, str]) -> dict[str, str]:
    """column -> the pandas dtype of a table with this schema (what `frame` produces)."""
    return {col: DTYPES[kind] for col, kind in schema.items()}


def frame(rows: list[dict] | dict[str, list], schema: Mapping[str, str]) -> pd.DataFrame:
    """Build a typed frame with exactly the schema's columns, in order, whatever the rows hold."""
    df = pd.DataFrame(rows, columns=list(schema)) if isinstance(rows, list) else pd.DataFrame(rows)
    out = {}
    for col, kind in schema.items():
        s = df[col] if col in df else pd.Series([None] * len(df), dtype=object)
        out[col] = _cast(s, kind)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _cast(s: pd.Series, kind: str) -> pd.Series:
    if kind not in DTYPES:
        raise ValueError(f"unknown column kind {kind!r}")
    dtype = DTYPES[kind]
    if kind in ("id", "int"):
        return pd.to_numeric(s, errors="coerce").astype(dtype)
    if kind == "str":
        return s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v)).astype(dtype)
    if kind == "bool":
        return s.astype(object).map(_bool).astype(dtype)
    if kind == "ts_iso":
        return pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601").astype(dtype)
    if kind == "ts_unix":
        return pd.to_datetime(pd.to_numeric(s, errors="coerce"), unit="s", utc=True).astype(dtype)
    return pd.to_datetime(s, utc=True, errors="coerce").astype(dtype)


def _bool(v):
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def _id(obj) -> int | None:
    """The id of a nested object that may be null, a dict, or (rarely) a bare id."""
    if isinstance(obj, Mapping):
        obj = obj.get("id")
    try:
        return int(obj) if obj is not None else None
    except (TypeError, ValueError):
        return None


def _extra(record: Mapping, known: set[str]) -> str | None:
    """Unknown scalar fields, kept as sorted JSON so new API fields are evidence rather than lost."""
    extra = {k: v for k, v in record.items() if k not in known and (v is None or isinstance(v, str | int | float | bool))}
    return json.dumps(extra, sort_keys=True) if extra else None


def _email(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def company_frame(company: Mapping, *, api_url: str, collected_at: datetime) -> pd.DataFrame:
    row = {"name": company.get("name"), "users_count": company.get("users_count"),
           "numbers_count": company.get("numbers_count"), "api_url": api_url, "collected_at": collected_at}
    return frame([row], COMPANY)


def users_frame(users: Iterable[Mapping]) -> pd.DataFrame:
    rows = [{
        "user_id": u.get("id"), "name": u.get("name"), "email": _email(u.get("email")),
        "created_at": u.get("created_at"), "available": u.get("available"),
        "availability_status": u.get("availability_status"), "substatus": u.get("substatus"),
        "time_zone": u.get("time_zone"), "language": u.get("language"), "wrap_up_time": u.get("wrap_up_time"),
        "state": u.get("state"), "extension": u.get("extension"), "default_number_id": u.get("default_number_id"),
        "extra": _extra(u, _USER_KNOWN),
    } for u in users]
    return frame(rows, USERS)


def teams_frames(teams: Iterable[Mapping]) -> tuple[pd.DataFrame, pd.DataFrame]:
    team_rows, member_rows = [], []
    for t in teams:
        members = [m for m in (t.get("users") or []) if isinstance(m, Mapping)]
        team_rows.append({"team_id": t.get("id"), "name": t.get("name"), "created_at": t.get("created_at"),
                          "member_count": len(members), "extra": _extra(t, _TEAM_KNOWN)})
        member_rows += [{"team_id": t.get("id"), "team_name": t.get("name"), "user_id": m.get("id"),
                         "user_email": _email(m.get("email"))} for m in members]
    return frame(team_rows, TEAMS), frame(member_rows, TEAM_MEMBERS)


def numbers_frames(numbers: Iterable[Mapping], *, vanished: Iterable[Mapping] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numbers as returned by GET /v1/numbers/:id (the list endpoint carries no users[]), and the
    `vanished` ones as the list gave them: deleted before their detail was read, so their users are
    unknown (user_count null, no number_users rows)."""
    number_rows, link_rows = [], []
    for n in vanished:
        number_rows.append({
            "number_id": n.get("id"), "name": n.get("name"), "digits": n.get("digits"), "country": n.get("country"),
            "time_zone": n.get("time_zone"), "availability_status": n.get("availability_status"),
            "live_recording_activated": n.get("live_recording_activated"), "created_at": n.get("created_at"),
            "user_count": None, "extra": _extra(n, _NUMBER_KNOWN), "vanished": True,
        })
    for n in numbers:
        users = [u for u in (n.get("users") or []) if _id(u) is not None]
        number_rows.append({
            "number_id": n.get("id"), "name": n.get("name"), "digits": n.get("digits"), "country": n.get("country"),
            "time_zone": n.get("time_zone"), "availability_status": n.get("availability_status"),
            "live_recording_activated": n.get("live_recording_activated"), "created_at": n.get("created_at"),
            "user_count": len(users), "extra": _extra(n, _NUMBER_KNOWN), "vanished": False,
        })
        link_rows += [{"number_id": n.get("id"), "user_id": _id(u)} for u in users]
    return frame(number_rows, NUMBERS), frame(link_rows, NUMBER_USERS)


class CallNormalizer:
    """Turns pages of raw calls into column lists as they stream in, so a day of 50,000 calls never
    sits in memory as JSON. `frame()` builds the typed table at the end; `take(n)` the typed table of
    the first `n` rows not yet taken (a batch), so that a big day can be written a batch at a time."""

    def __init__(self, hash_key: bytes):
        self._hash_key = hash_key
        self._columns: dict[str, list] = {c: [] for c in CALLS}
        self.unknown_fields: set[str] = set()

    def add_page(self, calls: Iterable[Mapping]) -> None:
        cols = self._columns
        for c in calls:
            self.unknown_fields.update(k for k in c if k not in _CALL_KNOWN)
            user = c.get("user") if isinstance(c.get("user"), Mapping) else None
            country, digest = external_number(c.get("raw_digits"), self._hash_key)
            cols["call_id"].append(c.get("id"))
            cols["sid"].append(c.get("sid"))
            cols["direction"].append(c.get("direction"))
            cols["status"].append(c.get("status"))
            cols["missed_call_reason"].append(c.get("missed_call_reason"))
            cols["started_at"].append(c.get("started_at"))
            cols["answered_at"].append(c.get("answered_at"))
            cols["ended_at"].append(c.get("ended_at"))
            cols["duration"].append(c.get("duration"))
            cols["archived"].append(c.get("archived"))
            cols["user_id"].append(_id(user))
            cols["user_email"].append(_email(user.get("email")) if user else None)
            cols["assigned_to_id"].append(_id(c.get("assigned_to")))
            cols["transferred_by_id"].append(_id(c.get("transferred_by")))
            cols["transferred_to_id"].append(_id(c.get("transferred_to")))
            cols["number_id"].append(_id(c.get("number")))
            cols["team_ids"].append(_joined(_id(t) for t in c.get("teams") or []))
            cols["external_country_code"].append(country)
            cols["external_number_hash"].append(digest)
            cols["has_recording"].append(bool(c.get("recording") or c.get("recording_short_url")))
            cols["has_voicemail"].append(bool(c.get("voicemail") or c.get("voicemail_short_url")))
            cols["comments_count"].append(len(c.get("comments") or []))
            cols["tag_names"].append(_joined(t.get("name") for t in c.get("tags") or [] if isinstance(t, Mapping)))
            cols["country_code_a2"].append(c.get("country_code_a2"))
            cols["pricing_type"].append(c.get("pricing_type"))

    @property
    def pending(self) -> int:
        """Rows added and not yet taken."""
        return len(self._columns["call_id"])

    def take(self, rows: int | None = None) -> pd.DataFrame:
        """The typed table of the first `rows` pending rows (all of them by default), which are then
        dropped from this normalizer. An empty table (with every column) when none is pending."""
        rows = self.pending if rows is None else min(rows, self.pending)
        batch = {c: values[:rows] for c, values in self._columns.items()}
        self._columns = {c: values[rows:] for c, values in self._columns.items()}
        return frame(batch, CALLS)

    def warn_unknown(self) -> None:
        if self.unknown_fields:
            # Dropped rather than stored: an unreviewed field could carry personal data.
            log.warning("Calls carried fields this pipeline does not know and did not store: %s",
                        ", ".join(sorted(self.unknown_fields)))

    def frame(self) -> pd.DataFrame:
        self.warn_unknown()
        return self.take()


def webhooks_frame(webhooks: Iterable[Mapping]) -> pd.DataFrame:
    """One row per webhook: where it sends data, whether it is on, and which events.

    Unknown fields are dropped, not kept in an `extra` column as for users: a field added to this
    object could well be another secret. Only their names are logged.
    """
    rows, unknown = [], set()
    for w in webhooks:
        if not isinstance(w, Mapping):
            continue
        unknown.update(str(k) for k in w if k not in _WEBHOOK_KNOWN)
        scheme, host = url_destination(w.get("url"))
        events = _events(w.get("events"))
        rows.append({
            "webhook_id": w.get("webhook_id") if w.get("webhook_id") not in (None, "") else w.get("id"),
            "custom_name": w.get("custom_name"),
            "url_domain": host, "url_scheme": scheme, "active": w.get("active"),
            "events": None if events is None else ";".join(events),
            "event_count": None if events is None else len(events),
            "created_at": w.get("created_at"),
        })
    if unknown:
        log.warning("Webhooks carried fields this pipeline does not know and did not store: %s",
                    ", ".join(sorted(unknown)))
    return frame(rows, WEBHOOKS)


def _events(value) -> list[str] | None:
    """Event names, sorted and unique (the order carries no meaning); None when not a list."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return None
    return sorted({str(v).strip() for v in value if v is not None and str(v).strip()})


def _joined(values: Iterable) -> str | None:
    items = [str(v) for v in values if v not in (None, "")]
    return ";".join(items) if items else None


_CC = re.compile(r"^\+(\d{1,3})[\s\-.()]")


def external_number(raw_digits, hash_key: bytes) -> tuple[str | None, str | None]:
    """(country calling code, keyed hash) of the external party's number.

    Aircall returns numbers display-formatted ("+33 6 12 34 56 78", "+1 617-610-5413"), so the
    calling code is the group between "+" and the first separator. The hash is an HMAC of the
    E.164 digits: stable within an account (same key), useless without the key.
    """
    if not isinstance(raw_digits, str) or not raw_digits.strip():
        return None, None
    text = raw_digits.strip()
    digits = re.sub(r"\D", "", text)
    if not digits or text.lower() == "anonymous":
        return "anonymous", None
    match = _CC.match(text)
    country = f"+{match.group(1)}" if match else None
    digest = hmac.new(hash_key, f"+{digits}".encode(), hashlib.sha256).hexdigest()[:32]
    return country, digest


def call_windows_frame(windows: Iterable) -> pd.DataFrame:
    rows = [{
        "window_from": datetime.fromtimestamp(w.from_ts, UTC), "window_to": datetime.fromtimestamp(w.to_ts, UTC),
        "meta_total": w.meta_total, "fetched": w.fetched, "complete": w.complete, "status": w.status,
        "total_changes": w.total_changes,
    } for w in windows]
    return frame(rows, CALL_WINDOWS)
