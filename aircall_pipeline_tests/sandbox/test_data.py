"""The seeded sandbox account: determinism, shapes, quirks and compliance situations."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from aircall_pipeline.sandbox.data import CALL_EXTRA_FIELD, HOSTILE_NAMES, USER_EXTRA_FIELD, SandboxAccount

ANCHOR = date(2026, 3, 15)
RAW_DIGITS = re.compile(r"^(anonymous|\+33 \d( \d\d){4}|\+1 \d{3}-\d{3}-\d{4}|\+44 \d{4} \d{6}|\+49 \d{3} \d{7})$")


@pytest.fixture(scope="module")
def account() -> SandboxAccount:
    return SandboxAccount(anchor=ANCHOR)


@pytest.fixture(scope="module")
def calls(account: SandboxAccount) -> list[dict]:
    return list(account.iter_calls())


def _day(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def test_same_seed_same_data_and_other_seed_other_data(account: SandboxAccount) -> None:
    again = SandboxAccount(anchor=ANCHOR)
    assert again.users == account.users and again.teams == account.teams and again.numbers == account.numbers
    assert list(again.iter_calls()) == list(account.iter_calls())
    assert again.roles_rows() == account.roles_rows() and again.roster_rows() == account.roster_rows()
    other = SandboxAccount(seed=8, anchor=ANCHOR)
    assert [u["email"] for u in other.users] != [u["email"] for u in account.users]
    assert other.call(0) != account.call(0)


def test_calls_cover_the_full_days_before_the_anchor(account: SandboxAccount, calls: list[dict]) -> None:
    days = {_day(call["started_at"]) for call in calls}
    assert min(days) >= ANCHOR - timedelta(days=30) and max(days) == ANCHOR - timedelta(days=1)
    assert [c["started_at"] for c in calls] == sorted(c["started_at"] for c in calls)
    assert account.call_count == 2000 == len(calls)


def test_default_anchor_is_today_utc_so_yesterday_has_calls() -> None:
    account = SandboxAccount(calls=500)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert account.anchor == datetime.now(UTC).date()
    assert any(_day(call["started_at"]) == yesterday for call in account.iter_calls())


def test_busy_day_of_a_large_account_holds_more_than_10k_calls() -> None:
    big = SandboxAccount(calls=50_000, anchor=ANCHOR)
    busy = SandboxAccount(calls=30_000, busy_day_calls=15_000, anchor=ANCHOR)
    per_day = Counter(_day(busy.call_started_at(i)) for i in range(busy.call_count))
    assert busy.call_count == 30_000 and big.call_count == 50_000
    assert per_day[ANCHOR - timedelta(days=1)] > 10_000


def test_user_fields_and_quirks(account: SandboxAccount) -> None:
    v2_fields = {"id", "direct_link", "name", "email", "created_at", "available", "availability_status", "substatus",
                 "time_zone", "language", "wrap_up_time", "state", "extension", "default_number_id"}
    assert all(v2_fields <= set(user) for user in account.users)
    assert any(USER_EXTRA_FIELD in user for user in account.users)
    assert any(user["name"] == "" for user in account.users)
    assert {user["created_at"].endswith(".000Z") for user in account.users} == {True, False}
    assert account.company() == {"name": "Northwind Trading", "users_count": 25, "numbers_count": 6}


def test_compliance_situations_are_built_in(account: SandboxAccount, calls: list[dict]) -> None:
    emails = {user["email"] for user in account.users}
    assert f"support@{account.domain}" in emails
    in_teams = {member["id"] for i in range(len(account.teams)) for member in account.team_list_item(i)["users"]}
    assert len({user["id"] for user in account.users} - in_teams) == 1
    assert sum(1 for i in range(len(account.teams)) if not account.team_list_item(i)["users"]) == 1
    assert sum(1 for number in account.numbers if not account.number(number["id"])["users"]) == 1
    people = ("user", "assigned_to", "transferred_by", "transferred_to")
    callers = {call[key]["id"] for call in calls for key in people if call[key]}
    dormant = [user["id"] for user in account.users_with("dormant")]
    assert len(dormant) == 3 and not callers & set(dormant)


def test_roles_export_and_roster(account: SandboxAccount) -> None:
    roles = account.roles_rows()
    assert {row["role"] for row in roles} == {"admin", "supervisor", "agent"}
    assert 2 <= sum(row["role"] == "admin" for row in roles) <= 3
    roster = {row["email"]: row for row in account.roster_rows()}
    aircall_emails = {user["email"] for user in account.users}
    assert len(aircall_emails - set(roster)) == 1
    leavers_still_present = [e for e in aircall_emails & set(roster) if roster[e]["status"] == "terminated"]
    assert len(leavers_still_present) == 1
    terminated_at = datetime.fromisoformat(roster[leavers_still_present[0]]["terminated_at"].replace("Z", "+00:00"))
    assert (datetime.combine(ANCHOR, datetime.min.time(), UTC) - terminated_at).days >= 5
    assert all(row["terminated_at"] is None for row in roster.values() if row["status"] == "active")


def test_call_fields_and_quirks(calls: list[dict]) -> None:
    assert all(call["id"] > 2**32 for call in calls)
    assert all(RAW_DIGITS.match(call["raw_digits"]) for call in calls)
    assert any(call["raw_digits"] == "anonymous" for call in calls)
    missed = [c for c in calls if c["direction"] == "inbound" and c["answered_at"] is None]
    assert missed and all(c["user"] is None and c["missed_call_reason"] for c in missed)
    assert all("teams" in c for c in calls if c["direction"] == "inbound")
    assert all(c["teams"] == [] for c in calls if c["direction"] == "outbound")
    recorded = [c for c in calls if c["recording"]]
    assert recorded and all("X-Amz-Signature=" in c["recording"] for c in recorded)
    assert any(c["voicemail"] and "X-Amz-Signature=" in c["voicemail"] for c in calls)
    comments = [comment for c in calls for comment in c["comments"]]
    assert comments and all(isinstance(comment["posted_at"], int) and comment["content"] for comment in comments)
    assert any(c["tags"] for c in calls) and any(c["transferred_to"] for c in calls) and any(c["assigned_to"] for c in calls)
    assert any(CALL_EXTRA_FIELD in c for c in calls)
    assert all(c["duration"] == c["ended_at"] - c["started_at"] for c in calls)
    assert all(isinstance(c["cost"], str) for c in calls)


def test_unknown_fields_can_be_left_out(account: SandboxAccount) -> None:
    assert not any(CALL_EXTRA_FIELD in c for c in account.iter_calls(include_unknown=False))


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        SandboxAccount(calls=10, busy_day_calls=11)
    with pytest.raises(ValueError):
        SandboxAccount(anchor=ANCHOR, busy_day=ANCHOR)


def test_tiny_accounts_still_build() -> None:
    tiny = SandboxAccount(users=1, teams=0, numbers=1, calls=5, days=1)
    assert tiny.call_count == 5 and len(tiny.users) == 1 and tiny.roles_rows()


def test_hostile_names_change_only_names(account: SandboxAccount) -> None:
    hostile = SandboxAccount(anchor=ANCHOR, hostile_names=True)
    names = {u["name"] for u in hostile.users} | {t["name"] for t in hostile.teams} | {n["name"] for n in hostile.numbers}
    assert set(HOSTILE_NAMES) <= names
    # The empty team and the unassigned number, which the checks report, carry the Slack ping.
    assert hostile.teams[-1]["name"] == HOSTILE_NAMES[0] and hostile.numbers[-1]["name"] == HOSTILE_NAMES[0]
    assert hostile.users[0]["name"] == account.users[0]["name"]  # the declared admins stay ordinary
    assert [u["email"] for u in hostile.users] == [u["email"] for u in account.users]
    assert [u["id"] for u in hostile.users] == [u["id"] for u in account.users]
    assert [c["id"] for c in hostile.iter_calls()] == [c["id"] for c in account.iter_calls()]
    assert hostile.roles_rows() == account.roles_rows()
    assert {r["name"] for r in hostile.roster_rows()} & set(HOSTILE_NAMES)  # the HR file carries them too


def test_webhooks_are_seeded_and_leave_the_rest_of_the_account_alone(account: SandboxAccount) -> None:
    again = SandboxAccount(anchor=ANCHOR)
    assert again.webhooks == account.webhooks and again.webhook_secrets() == account.webhook_secrets()
    assert SandboxAccount(seed=8, anchor=ANCHOR).webhooks[0]["token"] != account.webhooks[0]["token"]
    many = SandboxAccount(anchor=ANCHOR, webhooks=100)
    assert len(many.webhooks) == 100 and len({w["webhook_id"] for w in many.webhooks}) == 100
    assert many.users == account.users and many.call(0) == account.call(0)
    assert SandboxAccount(anchor=ANCHOR, webhooks=0).webhooks == []
    for bad in (-1, 101):  # Aircall allows at most 100 webhooks per company
        with pytest.raises(ValueError, match="webhooks"):
            SandboxAccount(webhooks=bad)


def test_the_owner_approves_every_webhook_destination_but_the_request_inspector(account: SandboxAccount) -> None:
    from urllib.parse import urlsplit

    approved = account.approved_webhook_domains()
    assert account.domain in approved
    hosts = {urlsplit(w["url"]).hostname for w in account.webhooks}
    unapproved = {h for h in hosts if not any(h == d or h.endswith("." + d) for d in approved)}
    assert unapproved == {"requestbin.example"}
