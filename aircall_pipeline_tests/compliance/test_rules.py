"""Each check: a passing case, a case built to fail, skip cases, and the edge cases (empty frames, nulls,
odd emails, ids above 2**53, time zones)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from aircall_pipeline.compliance import catalogue as cat
from aircall_pipeline.compliance import rules as R
from aircall_pipeline_tests.compliance import frames as F

AS_OF = pd.Timestamp("2026-03-01T00:00:00Z")
BIG = 2**60 + 1  # above 2**53: a float round trip would change it


def check_shape(outcome: R.CheckOutcome, spec: cat.CheckSpec) -> pd.DataFrame:
    """Every outcome: catalogue identity, base columns first, JSON-serialisable summary."""
    assert (outcome.check_id, outcome.name, outcome.controls) == (spec.check_id, spec.name, spec.controls)
    assert outcome.status in cat.STATUSES
    assert outcome.threshold and outcome.reason
    f = outcome.findings
    assert tuple(f.columns[:6]) == R.BASE_COLUMNS
    assert (f["check_id"] == spec.check_id).all()
    assert f["status"].isin(cat.STATUSES).all()
    for col in R.BASE_COLUMNS:
        assert f[col].dtype == "str", col
    json.dumps(outcome.summary())
    return f


def rows_of(outcome: R.CheckOutcome, **where: str) -> pd.DataFrame:
    f = outcome.findings
    mask = pd.Series(True, index=f.index)
    for col, value in where.items():
        mask &= f[col] == value
    return f[mask]


# --------------------------------------------------------------------------------------------------
# Catalogue and outcome


def test_catalogue_ids_names_and_blocking():
    assert [s.check_id for s in cat.CHECKS] == ["AC-01", "AC-02", "AC-03", "AC-04", "AC-05", "AC-06", "AC-07",
                                                "AC-08", "AC-09", "AC-10", "AC-11", "AC-14", "AC-15", "AC-16"]
    assert len(cat.BY_NAME) == len(cat.CHECKS)
    assert {s.check_id for s in cat.CHECKS if s.blocking} == {"AC-01", "AC-14"}
    assert all(s.severity in (cat.SEVERITY_ERROR, cat.SEVERITY_WARN) for s in cat.CHECKS)
    assert cat.AC_03.severity == cat.SEVERITY_ERROR and cat.AC_08.severity == cat.SEVERITY_WARN
    assert all(s.controls and all(":" in c for c in s.controls) for s in cat.CHECKS)


def test_outcome_rejects_unknown_status():
    with pytest.raises(ValueError, match="status"):
        R.CheckOutcome("AC-01", "user_inventory", "ok", 1, "t", (), "r", pd.DataFrame())


def test_error_outcome_is_visible_not_a_pass():
    out = R.error_outcome("AC-03", KeyError("email"))
    check_shape(out, cat.AC_03)
    assert out.status == "error" and "KeyError" in out.reason


def test_missing_column_is_a_clear_input_error():
    with pytest.raises(R.RuleInputError, match="users table lacks column"):
        R.user_inventory(pd.DataFrame({"user_id": [1]}), F.company(1))


# --------------------------------------------------------------------------------------------------
# AC-01 user inventory


def test_user_inventory_passes_when_counts_reconcile():
    out = R.user_inventory(F.users(F.user_rows(3)), F.company(users_count=3))
    f = check_shape(out, cat.AC_01)
    assert (out.status, out.observed, len(f)) == ("pass", 3, 0)
    assert "(3)" in out.threshold


def test_user_inventory_fails_on_count_mismatch():
    out = R.user_inventory(F.users(F.user_rows(3)), F.company(users_count=4))
    assert out.status == "fail"
    row = rows_of(out, item_type="company").iloc[0]
    assert (row["fetched"], row["expected"]) == (3, 4)


def test_user_inventory_fails_on_duplicate_ids_even_when_row_count_matches():
    rows = F.user_rows(3)
    rows[2]["user_id"] = rows[1]["user_id"]  # page overlap: one user twice, one missing
    out = R.user_inventory(F.users(rows), F.company(users_count=3))
    assert out.status == "fail" and out.observed == 2
    dup = rows_of(out, item_type="user", status="fail")
    assert list(dup["item_id"]) == [str(rows[1]["user_id"])] and dup["occurrences"].iloc[0] == 2


def test_user_inventory_fails_without_company_count():
    out = R.user_inventory(F.users(F.user_rows(2)), F.company(users_count=None))
    assert out.status == "fail" and "no users_count" in out.findings["reason"].iloc[0]
    assert R.user_inventory(F.users(F.user_rows(2)), None).status == "fail"


def test_user_inventory_accepts_company_mapping_and_empty_users():
    assert R.user_inventory(F.users([]), {"users_count": 0}).status == "pass"
    assert R.user_inventory(F.users([]), {"users_count": 5}).status == "fail"


def test_user_inventory_warns_on_duplicate_or_missing_emails():
    users = F.users([{"email": "A@x.com"}, {"email": " a@x.com "}, {"email": None}, {"email": "   "}])
    out = R.user_inventory(users, F.company(users_count=4))
    assert out.status == "warn"
    assert len(rows_of(out, status="warn")) == 4  # two sharing an email, two without one


def test_user_inventory_keeps_big_ids_exact():
    users = F.users([{"user_id": BIG, "email": "a@x.com"}, {"user_id": BIG, "email": "a@x.com"}])
    out = R.user_inventory(users, F.company(users_count=1))
    assert out.status == "fail"
    assert rows_of(out, item_type="user")["item_id"].tolist() == [str(BIG)]


# --------------------------------------------------------------------------------------------------
# AC-02 privileged access


USERS_5 = F.user_rows(5)


def test_privileged_access_skips_without_roles_file():
    out = R.privileged_access(F.users(USERS_5), None)
    check_shape(out, cat.AC_02)
    assert out.status == "skip" and "no role" in out.reason.lower()
    assert R.privileged_access(F.users(USERS_5), F.roles([])).status == "skip"


def all_roles(admins: set[int], n: int = 5) -> list[dict]:
    return [{"email": f"person{i}@example.com", "role": "admin" if i in admins else "agent"} for i in range(n)]


def test_privileged_access_passes_and_lists_every_admin():
    roles = all_roles({0, 1})
    roles[0]["email"] = "  PERSON0@Example.COM "  # odd case and whitespace still match
    roles[1]["role"] = "Owner"
    out = R.privileged_access(F.users(USERS_5), F.roles(roles), min_admins=2, max_admins=3)
    f = check_shape(out, cat.AC_02)
    assert (out.status, out.observed) == ("pass", 2)
    admins = rows_of(out, item_type="admin")
    assert sorted(admins["email"]) == ["person0@example.com", "person1@example.com"]
    assert set(admins["role_source"]) == {"roles_file"}
    assert "no role field" in out.reason
    assert rows_of(out, item_type="admin_count")["status"].tolist() == ["pass"]
    assert (f["status"] == "pass").all()


def test_privileged_access_fails_above_max():
    out = R.privileged_access(F.users(USERS_5), F.roles(all_roles({0, 1, 2})), max_admins=2)
    assert (out.status, out.observed) == ("fail", 3)
    assert "more than the maximum of 2" in out.reason


def test_privileged_access_fails_with_no_admin_among_users():
    out = R.privileged_access(F.users(USERS_5), F.roles(all_roles(set())))
    assert (out.status, out.observed) == ("fail", 0)


def test_privileged_access_warns_below_min():
    out = R.privileged_access(F.users(USERS_5), F.roles(all_roles({0})), min_admins=2)
    assert (out.status, out.observed) == ("warn", 1)


def test_privileged_access_flags_stale_admins_and_undeclared_users():
    roles = all_roles({0, 1})[:4] + [{"email": "gone@example.com", "role": "admin"}]  # person4 undeclared
    out = R.privileged_access(F.users(USERS_5), F.roles(roles))
    assert out.status == "warn" and out.observed == 2
    assert rows_of(out, item_type="declared_admin")["item_id"].tolist() == ["gone@example.com"]
    assert rows_of(out, item_type="user")["email"].tolist() == ["person4@example.com"]


def test_privileged_access_conflicting_roles_count_as_privileged():
    roles = all_roles({0, 1}) + [{"email": "person2@example.com", "role": "admin"}]
    out = R.privileged_access(F.users(USERS_5), F.roles(roles))
    assert out.observed == 3 and out.status == "warn"
    assert "several roles" in rows_of(out, email="person2@example.com")["reason"].iloc[0]


def test_privileged_access_uses_an_api_role_column_when_present():
    users = F.users(USERS_5)
    users["role"] = pd.Series(["admin", "admin", "agent", "agent", "agent"], dtype="str")
    out = R.privileged_access(users, None)
    assert (out.status, out.observed) == ("pass", 2)
    assert "API role field" in out.reason
    assert set(rows_of(out, item_type="admin")["role_source"]) == {"api"}
    # With a roles file, it becomes the approved list: an API admin it does not approve fails.
    out = R.privileged_access(users, F.roles([{"email": "person0@example.com", "role": "admin"}]))
    assert out.status == "fail"
    assert rows_of(out, status="fail")["email"].tolist() == ["person1@example.com"]


# --------------------------------------------------------------------------------------------------
# AC-03 offboarding


def roster_for(*entries: tuple[str, str, str | None]) -> pd.DataFrame:
    return F.roster([{"email": e, "status": s, "terminated_at": t, "name": e.split("@")[0]} for e, s, t in entries])


def test_offboarding_skips_without_roster():
    out = R.offboarding(F.users(USERS_5), None, as_of=AS_OF)
    check_shape(out, cat.AC_03)
    assert out.status == "skip" and "roster" in out.reason
    assert R.offboarding(F.users(USERS_5), F.roster([]), as_of=AS_OF).status == "skip"


def test_offboarding_passes_when_everyone_is_active():
    roster = roster_for(*[(f"person{i}@example.com", "active", None) for i in range(5)])
    out = R.offboarding(F.users(USERS_5), roster, as_of=AS_OF)
    assert (out.status, out.observed, len(out.findings)) == ("pass", 0, 0)


def test_offboarding_fails_past_sla_and_warns_within():
    roster = roster_for(
        ("person0@example.com", "terminated", "2026-02-26T00:00:00Z"),  # 72 h ago: 48 h overdue
        (" Person1@EXAMPLE.com ", "terminated", "2026-02-28T12:00:00Z"),  # 12 h ago: within 24 h
        ("person2@example.com", "active", None),
        ("nobody@example.com", "terminated", "2026-01-01"),  # no Aircall account: nothing to flag
    )
    out = R.offboarding(F.users(USERS_5), roster, as_of=AS_OF, sla_hours=24)
    f = check_shape(out, cat.AC_03)
    assert (out.status, out.observed) == ("fail", 1)
    over = rows_of(out, status="fail").iloc[0]
    assert over["email"] == "person0@example.com"
    assert over["hours_overdue"] == pytest.approx(48.0) and over["hours_since_termination"] == pytest.approx(72.0)
    within = rows_of(out, status="warn").iloc[0]
    assert within["email"] == "person1@example.com" and pd.isna(within["hours_overdue"])
    assert len(f) == 2
    assert f["terminated_at"].dtype == R.UTC_DTYPE


def test_offboarding_within_sla_only_warns():
    roster = roster_for(("person0@example.com", "terminated", "2026-02-28T20:00:00Z"))
    out = R.offboarding(F.users(USERS_5), roster, as_of=AS_OF)
    assert (out.status, out.observed) == ("warn", 0)


def test_offboarding_rehire_future_leaver_and_undated_termination():
    roster = roster_for(
        ("person0@example.com", "terminated", "2024-01-01"),  # left, then rehired:
        ("person0@example.com", "active", None),
        ("person1@example.com", "active", "2026-06-30"),  # leaving later: not yet terminated
        ("person2@example.com", "terminated", None),  # terminated, no date: SLA unprovable
    )
    out = R.offboarding(F.users(USERS_5), roster, as_of=AS_OF)
    assert (out.status, out.observed) == ("fail", 1)
    assert out.findings["email"].tolist() == ["person2@example.com"]


def test_offboarding_as_of_accepts_naive_and_other_time_zones():
    roster = roster_for(("person0@example.com", "terminated", "2026-02-27T23:30:00Z"))
    paris = datetime(2026, 3, 1, 1, 0, tzinfo=ZoneInfo("Europe/Paris"))  # == 00:00 UTC
    naive = datetime(2026, 3, 1, 0, 0)
    a = R.offboarding(F.users(USERS_5), roster, as_of=paris)
    b = R.offboarding(F.users(USERS_5), roster, as_of=naive)
    assert a.status == b.status == "fail"
    assert a.findings["hours_overdue"].iloc[0] == pytest.approx(0.5)
    assert b.findings["hours_overdue"].iloc[0] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------------------
# AC-04 unmatched accounts


def test_unmatched_accounts_skips_without_roster():
    out = R.unmatched_accounts(F.users(USERS_5), None)
    check_shape(out, cat.AC_04)
    assert out.status == "skip"


@pytest.mark.parametrize(("rule", "consequence"), [
    (lambda users, roster: R.offboarding(users, roster, as_of=AS_OF), "leavers cannot be identified"),
    (lambda users, roster: R.unmatched_accounts(users, roster), "accounts cannot be matched to people"),
])
def test_the_roster_rules_say_why_they_skip(rule, consequence):
    """No roster and a roster without one email are different fixes for the owner: each is named."""
    unset = rule(F.users(USERS_5), None)
    assert unset.reason == f"No roster is configured (roster_uri), so {consequence}."
    no_emails = rule(F.users(USERS_5), F.roster([{"email": None, "status": "active", "name": "x"}]))
    assert no_emails.status == "skip"
    assert no_emails.reason == f"The roster has no rows with an email, so {consequence}."
    assert no_emails.findings.empty


def test_unmatched_accounts_passes_with_roster_and_documented_exception():
    users = F.users(F.user_rows(2) + [{"email": "Support@Example.com", "name": "Support"}])
    roster = roster_for(("PERSON0@example.com ", "active", None), ("person1@example.com", "terminated", "2026-01-01"))
    exc = {"support@example.com": {"owner": "jane@example.com", "reason": "support queue"}}
    out = R.unmatched_accounts(users, roster, exceptions=exc)
    check_shape(out, cat.AC_04)
    assert (out.status, out.observed) == ("pass", 0)
    row = out.findings.iloc[0]
    assert (row["status"], row["exception_owner"], row["email"]) == ("pass", "jane@example.com", "support@example.com")


def test_unmatched_accounts_fails_on_unknown_and_emailless_users():
    users = F.users(F.user_rows(2) + [{"email": "contractor@other.com"}, {"email": None, "name": "Ghost"}])
    roster = roster_for(("person0@example.com", "active", None), ("person1@example.com", "active", None))
    out = R.unmatched_accounts(users, roster, exceptions=["someone.else@example.com"])
    assert (out.status, out.observed) == ("fail", 2)
    assert sorted(out.findings["item_label"]) == ["Ghost", "contractor@other.com"]


# --------------------------------------------------------------------------------------------------
# AC-05 shared accounts


def test_shared_accounts_passes_on_personal_accounts():
    users = F.users(F.user_rows(3) + [{"email": "infosec.lead@example.com", "name": "Ines"},
                                      {"email": "john.support@example.com", "name": "John"},
                                      {"email": "x@example.com", "name": ""}, {"email": "y@example.com", "name": ""}])
    out = R.shared_accounts(users)
    check_shape(out, cat.AC_05)
    assert (out.status, out.observed, len(out.findings)) == ("pass", 0, 0)


@pytest.mark.parametrize("email", ["support@example.com", " Sales-FR@Example.com", "info2@example.com",
                                   "noreply+calls@example.com", "reception.paris@example.com", "hello@example.com"])
def test_shared_accounts_fails_on_role_mailboxes(email):
    out = R.shared_accounts(F.users(F.user_rows(2) + [{"email": email, "name": "Queue"}]))
    assert (out.status, out.observed) == ("fail", 1)
    assert out.findings["flags"].tolist() == ["role_mailbox"]


def test_shared_accounts_documented_exception_needs_an_owner():
    users = F.users(F.user_rows(1) + [{"email": "support@example.com"}, {"email": "sales@example.com"}])
    exc = {"support@example.com": {"owner": "jane@example.com", "reason": "queue"},
           "sales@example.com": {"owner": " ", "reason": "no owner given"}}
    out = R.shared_accounts(users, exceptions=exc)
    assert (out.status, out.observed) == ("fail", 1)
    assert rows_of(out, status="pass")["email"].tolist() == ["support@example.com"]
    assert "without an owner" in rows_of(out, status="fail")["reason"].iloc[0]
    both = {**exc, "sales@example.com": {"owner": "max@example.com", "reason": "queue"}}
    assert R.shared_accounts(users, exceptions=both).status == "pass"


def test_shared_accounts_duplicate_emails_fail_and_duplicate_names_warn():
    users = F.users([{"email": "a@x.com", "name": "Ann Lee"}, {"email": " A@X.com", "name": "Ann L"},
                     {"email": "b@x.com", "name": "Bo  Chen"}, {"email": "c@x.com", "name": "bo chen"}])
    out = R.shared_accounts(users, exceptions={"a@x.com": {"owner": "o@x.com", "reason": "r"}})
    assert out.status == "fail"
    assert sorted(rows_of(out, status="fail")["item_id"]) == ["1000", "1001"]
    assert sorted(rows_of(out, status="warn")["item_id"]) == ["1002", "1003"]
    only_names = R.shared_accounts(users.iloc[2:])
    assert only_names.status == "warn"


def test_shared_accounts_custom_patterns():
    users = F.users([{"email": "standard@example.com"}])
    assert R.shared_accounts(users).status == "pass"
    assert R.shared_accounts(users, patterns=["standard@"]).status == "fail"


# --------------------------------------------------------------------------------------------------
# AC-06 dormant accounts and activity


def test_activity_from_calls_streams_partitions_and_matches_one_shot():
    rng = np.random.default_rng(7)
    parts = []
    for day in range(5):
        n = 50
        user_id = pd.array(rng.choice([1, 2, BIG, None], size=n).tolist(), dtype="Int64")
        started = pd.Timestamp("2026-02-01", tz="UTC") + pd.Timedelta(days=day) + pd.to_timedelta(
            rng.integers(0, 86_400, size=n), unit="s")
        parts.append(pd.DataFrame({"user_id": user_id, "started_at": started.astype(R.UTC_DTYPE),
                                   "other": "ignored"}))
    streamed = R.activity_from_calls(iter(parts))
    whole = pd.concat(parts).dropna(subset=["user_id"])
    expected = whole.groupby("user_id")["started_at"].agg(["max", "size"])
    assert streamed["user_id"].tolist() == sorted(expected.index.tolist())
    assert streamed.set_index("user_id")["last_call_at"].tolist() == expected["max"].tolist()
    assert streamed.set_index("user_id")["calls"].tolist() == expected["size"].tolist()
    assert BIG in streamed["user_id"].tolist()
    assert str(streamed["last_call_at"].dtype) == R.UTC_DTYPE
    # Incremental: continuing from a previous result gives the same answer.
    again = R.activity_from_calls(parts[3:], initial=R.activity_from_calls(parts[:3]))
    pd.testing.assert_frame_equal(again, streamed)


def test_activity_from_calls_handles_nothing_and_other_time_zones():
    empty = R.activity_from_calls([])
    assert list(empty.columns) == ["user_id", "last_call_at", "calls"] and empty.empty
    paris = pd.DataFrame({"user_id": pd.array([1, None], dtype="Int64"),
                          "started_at": pd.to_datetime(["2026-02-01T01:00", "2026-02-01T02:00"]).tz_localize(
                              "Europe/Paris")})
    out = R.activity_from_calls([F.calls([]), paris])
    assert out["last_call_at"].tolist() == [pd.Timestamp("2026-02-01T00:00Z")]


def dormant_setup():
    users = F.users([
        {"user_id": 1, "email": "active@example.com"},
        {"user_id": 2, "email": "old-caller@example.com"},
        {"user_id": 3, "email": "never@example.com"},
        {"user_id": 4, "email": "new@example.com", "created_at": "2026-02-20T00:00:00Z"},
        {"user_id": BIG, "email": "big@example.com"},
    ])
    activity = F.activity([
        {"user_id": 1, "last_call_at": "2026-02-27T10:00:00Z", "calls": 12},
        {"user_id": 2, "last_call_at": "2025-11-01T10:00:00Z", "calls": 3},  # 120 days before AS_OF
        {"user_id": BIG, "last_call_at": "2026-01-15T10:00:00Z", "calls": 1},
        {"user_id": 99, "last_call_at": "2026-02-27T10:00:00Z", "calls": 1},  # not a user any more
    ])
    return users, activity


def test_dormant_accounts_fails_on_inactive_users():
    users, activity = dormant_setup()
    out = R.dormant_accounts(users, activity, as_of=AS_OF, covered_from="2025-10-01T00:00:00Z", covered_to=AS_OF)
    f = check_shape(out, cat.AC_06)
    assert (out.status, out.observed) == ("fail", 2)
    assert sorted(rows_of(out, status="fail")["email"]) == ["never@example.com", "old-caller@example.com"]
    assert len(f) == 5  # every user is evaluated and listed
    new = rows_of(out, email="new@example.com").iloc[0]
    assert new["status"] == "pass" and "not yet subject" in new["reason"]
    assert rows_of(out, email="old-caller@example.com")["days_since_last_call"].iloc[0] == pytest.approx(
        (AS_OF - pd.Timestamp("2025-11-01T10:00Z")) / pd.Timedelta(days=1))
    assert "(151.0 days)" in out.reason  # the window actually covered is stated


def test_dormant_accounts_passes_when_everyone_called():
    users, activity = dormant_setup()
    users = users[users["user_id"].isin([1, BIG, 4])]
    out = R.dormant_accounts(users, activity, as_of=AS_OF, covered_from="2025-10-01", covered_to=AS_OF)
    assert (out.status, out.observed) == ("pass", 0)


def test_dormant_accounts_skips_on_short_history_and_lists_candidates():
    users, activity = dormant_setup()
    out = R.dormant_accounts(users, activity, as_of=AS_OF, covered_from="2026-01-01", covered_to=AS_OF)
    check_shape(out, cat.AC_06)
    assert out.status == "skip" and out.observed is None
    assert "59.0 days" in out.reason
    assert sorted(out.findings["email"]) == ["never@example.com", "old-caller@example.com"]
    assert set(out.findings["status"]) == {"skip"}
    # History that stops before as_of cannot conclude either.
    late = R.dormant_accounts(users, activity, as_of=AS_OF, covered_from="2025-10-01", covered_to="2026-02-20")
    assert late.status == "skip"


def test_dormant_accounts_skips_without_activity_and_copes_with_empty_users():
    out = R.dormant_accounts(F.users(USERS_5), None, as_of=AS_OF, covered_from=None, covered_to=None)
    assert out.status == "skip"
    empty = R.dormant_accounts(F.users([]), F.activity([]), as_of=AS_OF, covered_from="2025-01-01", covered_to=AS_OF)
    assert (empty.status, empty.observed) == ("pass", 0)


def test_dormant_accounts_from_streamed_calls():
    users = F.users([{"user_id": 1, "email": "a@x.com"}, {"user_id": 2, "email": "b@x.com"}])
    days = [F.calls([{"user_id": 1, "started_at": f"2026-02-{d:02d}T09:00:00Z"}, {"user_id": None,
                                                                                   "started_at": f"2026-02-{d:02d}T10:00:00Z"}])
            for d in range(1, 28)]
    activity = R.activity_from_calls(days)
    out = R.dormant_accounts(users, activity, as_of=AS_OF, covered_from="2025-11-01", covered_to=AS_OF, days=30)
    assert out.status == "fail" and rows_of(out, status="fail")["item_id"].tolist() == ["2"]
    assert rows_of(out, item_id="1")["calls"].iloc[0] == 27


# --------------------------------------------------------------------------------------------------
# AC-07 access changes


def test_access_changes_skips_without_previous_snapshot():
    out = R.access_changes(F.users(USERS_5), None, previous_date="2026-02-28")
    check_shape(out, cat.AC_07)
    assert out.status == "skip"


def test_access_changes_lists_joiners_leavers_and_email_changes():
    prev = F.users([{"user_id": 1, "email": "a@x.com"}, {"user_id": 2, "email": "b@x.com"},
                    {"user_id": 3, "email": "C@x.com"}, {"user_id": BIG, "email": "old@x.com", "name": "Olga"}])
    cur = F.users([{"user_id": 1, "email": "a@x.com"}, {"user_id": 2, "email": "b.new@x.com"},
                   {"user_id": 3, "email": " c@X.com "}, {"user_id": 4, "email": "new@x.com"}])
    out = R.access_changes(cur, prev, previous_date="2026-02-28")
    f = check_shape(out, cat.AC_07)
    assert (out.status, out.observed) == ("pass", 3)  # informational: never warn
    changes = dict(zip(f["item_id"], f["change"], strict=True))
    assert changes == {"2": "email_change", "4": "joiner", str(BIG): "leaver"}
    leaver = rows_of(out, change="leaver").iloc[0]
    assert (leaver["email"], leaver["name"]) == ("old@x.com", "Olga")
    assert rows_of(out, change="email_change")["previous_email"].iloc[0] == "b@x.com"
    assert "1 joiner, 1 leaver and 1 email change" in out.reason


def test_access_changes_without_changes():
    out = R.access_changes(F.users(USERS_5), F.users(USERS_5), previous_date="2026-02-28")
    assert (out.status, out.observed, len(out.findings)) == ("pass", 0, 0)


# --------------------------------------------------------------------------------------------------
# AC-08 team coverage


def test_team_coverage_skips_without_teams():
    out = R.team_coverage(F.users(USERS_5), None, None)
    check_shape(out, cat.AC_08)
    assert out.status == "skip"


def test_team_coverage_passes_when_everyone_is_in_a_team():
    users = F.users(F.user_rows(2))
    teams = F.teams([{"team_id": 1, "name": "Sales"}, {"team_id": BIG, "name": "Support"}])
    members = F.team_members([{"team_id": 1, "user_id": 1000}, {"team_id": BIG, "user_id": 1001},
                              {"team_id": BIG, "user_id": 1000}])
    out = R.team_coverage(users, teams, members)
    f = check_shape(out, cat.AC_08)
    assert (out.status, out.observed) == ("pass", 0)
    assert dict(zip(f["item_id"], f["member_count"], strict=True)) == {"1": 1, str(BIG): 2}


def test_team_coverage_warns_on_teamless_users_and_empty_teams():
    users = F.users(F.user_rows(3))
    teams = F.teams([{"team_id": 1, "name": "Sales"}, {"team_id": 2, "name": "Empty"}])
    members = F.team_members([{"team_id": 1, "user_id": 1000}])
    out = R.team_coverage(users, teams, members)
    assert (out.status, out.observed) == ("warn", 3)
    assert sorted(rows_of(out, status="warn", item_type="user")["item_id"]) == ["1001", "1002"]
    assert rows_of(out, status="warn", item_type="team")["item_label"].tolist() == ["Empty"]


# --------------------------------------------------------------------------------------------------
# AC-09 number inventory


def nums(*ids: int) -> pd.DataFrame:
    return F.numbers([{"number_id": i, "name": f"Line {i}", "country": "FR"} for i in ids])


def test_number_inventory_passes():
    out = R.number_inventory(nums(1, BIG), F.number_users([{"number_id": 1, "user_id": 1},
                                                           {"number_id": BIG, "user_id": 2}]), F.company(2, 2))
    check_shape(out, cat.AC_09)
    assert (out.status, out.observed, len(out.findings)) == ("pass", 2, 0)


def test_number_inventory_warns_on_numbers_without_users():
    out = R.number_inventory(nums(1, 2), F.number_users([{"number_id": 1, "user_id": 1}]), F.company(2, 2))
    assert out.status == "warn" and out.findings["item_id"].tolist() == ["2"]


def test_number_inventory_fails_on_count_mismatch_or_duplicates():
    nu = F.number_users([{"number_id": 1, "user_id": 1}, {"number_id": 2, "user_id": 1}])
    assert R.number_inventory(nums(1, 2), nu, F.company(2, 3)).status == "fail"
    assert R.number_inventory(nums(1, 2), nu, F.company(2, None)).status == "fail"
    dup = R.number_inventory(nums(1, 2, 2), nu, F.company(2, 2))
    assert dup.status == "fail" and rows_of(dup, status="fail")["item_id"].tolist() == ["2"]


def test_number_inventory_skips_without_assignments():
    assert R.number_inventory(nums(1), None, F.company(1, 1)).status == "skip"


# --------------------------------------------------------------------------------------------------
# AC-10 recording posture


def call(day: str, *, answered: bool = True, rec: bool | None = False, team: str | None = "1",
         number: int | None = 10, user: int | None = 1) -> dict:
    started = pd.Timestamp(day, tz="UTC")
    return {"started_at": started, "answered_at": started + pd.Timedelta(seconds=5) if answered else None,
            "has_recording": rec, "team_ids": team, "number_id": number, "user_id": user}


def test_recording_posture_skips_without_calls():
    out = R.recording_posture(F.calls([]), policy="required")
    check_shape(out, cat.AC_10)
    assert out.status == "skip"
    assert R.recording_posture(None).status == "skip"
    assert R.recording_posture(F.calls([call("2026-02-01T10:00", answered=False)]), policy="required").status == "skip"


def test_recording_posture_report_gives_figures_per_day_team_number():
    calls = F.calls([call("2026-02-01T10:00", rec=True, team="1;2"), call("2026-02-01T11:00", rec=False),
                     call("2026-02-02T10:00", rec=True, team=None, number=None, user=None),
                     call("2026-02-02T11:00", answered=False, rec=None)])
    numbers = F.numbers([{"number_id": 10, "name": "Main line", "live_recording_activated": True}])
    teams = F.teams([{"team_id": 1, "name": "Sales"}, {"team_id": 2, "name": "Support"}])
    out = R.recording_posture(calls, policy="report", numbers=numbers, teams=teams)
    f = check_shape(out, cat.AC_10)
    assert out.status == "pass" and out.observed == pytest.approx(2 / 3, abs=1e-4)
    shares = {(t, i): s for t, i, s in zip(f["item_type"], f["item_id"], f["recording_share"], strict=True)}
    assert shares[("day", "2026-02-01")] == 0.5 and shares[("day", "2026-02-02")] == 1.0
    assert shares[("team", "1")] == 0.5 and shares[("team", "2")] == 1.0 and shares[("team", "(none)")] == 1.0
    assert shares[("number", "10")] == 0.5
    main = rows_of(out, item_type="number", item_id="10").iloc[0]
    assert main["item_label"] == "Main line" and bool(main["live_recording_activated"])
    assert rows_of(out, item_type="team", item_id="2")["item_label"].iloc[0] == "Support"
    assert rows_of(out, item_type="overall")["calls"].iloc[0] == 4


def test_recording_posture_required_fails_below_min_share_and_passes_at_full():
    partial = F.calls([call("2026-02-01T10:00", rec=True), call("2026-02-01T11:00", rec=False)])
    out = R.recording_posture(partial, policy="required", min_share=1.0)
    assert (out.status, out.observed) == ("fail", 0.5)
    full = F.calls([call("2026-02-01T10:00", rec=True), call("2026-02-01T11:00", answered=False)])
    assert R.recording_posture(full, policy="required").status == "pass"


def test_recording_posture_required_warns_when_only_a_group_is_below():
    calls = F.calls([call("2026-02-01T10:00", rec=True, team="1")] * 3 + [call("2026-02-01T11:00", team="2")])
    out = R.recording_posture(calls, policy="required", min_share=0.7)
    assert out.status == "warn"
    assert rows_of(out, status="warn", item_type="team")["item_id"].tolist() == ["2"]


def test_recording_posture_forbidden():
    none = F.calls([call("2026-02-01T10:00"), call("2026-02-01T11:00", answered=False)])
    assert R.recording_posture(none, policy="forbidden").status == "pass"
    some = F.calls([call("2026-02-01T10:00"), call("2026-02-01T11:00", rec=True)])
    out = R.recording_posture(some, policy="forbidden")
    assert (out.status, out.observed) == ("fail", 1)


def test_recording_posture_days_follow_the_time_zone():
    calls = F.calls([call("2026-02-01T23:30")])  # 00:30 on 2 February in Paris
    utc = R.recording_posture(calls)
    paris = R.recording_posture(calls, tz="Europe/Paris")
    assert rows_of(utc, item_type="day")["item_id"].tolist() == ["2026-02-01"]
    assert rows_of(paris, item_type="day")["item_id"].tolist() == ["2026-02-02"]


def test_recording_posture_rejects_unknown_policy():
    with pytest.raises(ValueError, match="recording policy"):
        R.recording_posture(F.calls([call("2026-02-01T10:00")]), policy="sometimes")


def test_recording_posture_over_300k_calls():
    """Its speed is measured by bench/bench_compliance.py (1M calls), never timed here."""
    n = 300_000
    rng = np.random.default_rng(1)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    answered = rng.random(n) < 0.7
    started = (start + pd.to_timedelta(rng.integers(0, 30 * 86_400, n), unit="s")).astype(R.UTC_DTYPE)
    calls = pd.DataFrame({
        "started_at": started,
        "answered_at": pd.Series(started).where(answered),
        "has_recording": pd.array(rng.random(n) < 0.5, dtype="boolean"),
        "team_ids": pd.Series(rng.choice(["1", "2", "1;2", None], n), dtype="str"),
        "number_id": pd.array(rng.integers(1, 50, n), dtype="Int64"),
    })
    out = R.recording_posture(calls, policy="required", min_share=0.4)
    assert out.status == "pass" and len(rows_of(out, item_type="day")) == 30


# --------------------------------------------------------------------------------------------------
# AC-14 calls completeness


def window(a: str, b: str, total: int | None, fetched: int | None, complete: bool | None = None) -> dict:
    return {"window_from": a, "window_to": b, "meta_total": total, "fetched": fetched, "complete": complete}


def test_calls_completeness_passes_on_complete_tiling_windows():
    w = F.call_windows([window("2026-02-01T12:00Z", "2026-02-02T00:00Z", 9_999, 9_999, True),
                        window("2026-02-01T00:00Z", "2026-02-01T12:00Z", 0, 0, True)])
    out = R.calls_completeness(w, period_from="2026-02-01", period_to="2026-02-02")
    f = check_shape(out, cat.AC_14)
    assert (out.status, out.observed, len(f)) == ("pass", 0, 2)


@pytest.mark.parametrize("windows, why", [
    ([window("2026-02-01T00:00Z", "2026-02-02T00:00Z", 120, 119)], "Counts differ"),
    ([window("2026-02-01T00:00Z", "2026-02-02T00:00Z", 10_000, 10_000)], "10,000 or more"),
    ([window("2026-02-01T00:00Z", "2026-02-02T00:00Z", None, 5)], "not recorded"),
    ([window("2026-02-01T00:00Z", "2026-02-02T00:00Z", 5, 5, False)], "marked the window incomplete"),
    ([window("2026-02-01T00:00Z", "2026-02-01T10:00Z", 1, 1), window("2026-02-01T11:00Z", "2026-02-02T00:00Z", 1, 1)],
     "No window covers this interval"),
    ([window("2026-02-01T00:00Z", "2026-02-01T23:00Z", 1, 1)], "end of the period"),
    ([window("2026-02-01T01:00Z", "2026-02-02T00:00Z", 1, 1)], "No window covers this interval"),
])
def test_calls_completeness_fails(windows, why):
    out = R.calls_completeness(F.call_windows(windows), period_from="2026-02-01T00:00Z", period_to="2026-02-02T00:00Z")
    assert out.status == "fail" and out.observed >= 1
    assert any(why in r for r in rows_of(out, status="fail")["reason"])


def test_calls_completeness_skip_and_empty():
    assert R.calls_completeness(None).status == "skip"
    out = R.calls_completeness(F.call_windows([]))
    check_shape(out, cat.AC_14)
    assert out.status == "fail"


# --------------------------------------------------------------------------------------------------
# AC-15 evidence freshness


def test_evidence_freshness_passes_when_recent():
    out = R.evidence_freshness(AS_OF - timedelta(hours=3), as_of=AS_OF, max_age_hours=30)
    check_shape(out, cat.AC_15)
    assert (out.status, out.observed) == ("pass", 3.0)


def test_evidence_freshness_fails_when_stale_and_skips_without_earlier_evidence():
    out = R.evidence_freshness("2026-02-27T00:00:00Z", as_of=AS_OF, max_age_hours=30)
    assert (out.status, out.observed) == ("fail", 48.0)
    none = R.evidence_freshness(None, as_of=AS_OF)
    check_shape(none, cat.AC_15)
    assert none.status == "skip" and none.observed is None
    assert R.evidence_freshness(pd.NaT, as_of=AS_OF).status == "skip"


def test_evidence_freshness_time_zones_and_future_timestamps():
    tokyo = datetime(2026, 3, 1, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 23:00 UTC the day before
    assert R.evidence_freshness(tokyo, as_of=AS_OF).observed == 1.0
    future = R.evidence_freshness(AS_OF + timedelta(hours=2), as_of=AS_OF.tz_convert(UTC))
    assert future.status == "warn"


# --------------------------------------------------------------------------------------------------
# The benchmark script stays runnable (a small history; the full run is `make bench`).


def test_bench_compliance_runs_on_a_small_history():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "bench_compliance.py"
    done = subprocess.run([sys.executable, str(script), "--calls", "20000", "--days", "10", "--repeat", "1"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("## Compliance derivations")
    assert "| **derivations over 20,000 calls**" in done.stdout and "met" in done.stdout


# --------------------------------------------------------------------------------------------------
# AC-03 roster vocabularies (Workday, BambooHR, Okta, Entra ID, Google Workspace)


@pytest.mark.parametrize("status", ["resigned", "Separated", "Retired", "Terminated - Voluntary",
                                    "terminated_involuntary", "DEPROVISIONED", "Inactive", "Deleted", "Laid off",
                                    "Contract ended"])
def test_hris_and_idp_leaver_statuses_fail_offboarding(status):
    out = R.offboarding(F.users(USERS_5), roster_for(("person0@example.com", status, None)), as_of=AS_OF)
    assert out.status == "fail"
    assert rows_of(out, status="fail")["email"].tolist() == ["person0@example.com"]


@pytest.mark.parametrize("status", ["Active", "On Leave", "Leave of Absence (LOA)", "PASSWORD_EXPIRED", "Staged",
                                    "Full-Time", "Pre-Hire", "LOCKED_OUT"])
def test_hris_and_idp_working_statuses_pass(status):
    roster = roster_for(*[(f"person{i}@example.com", status if i == 0 else "active", None) for i in range(5)])
    assert R.offboarding(F.users(USERS_5), roster, as_of=AS_OF).status == "pass"


@pytest.mark.parametrize("status", ["suspended", "Disabled"])
def test_access_suspended_in_the_idp_warns_on_the_aircall_user(status):
    roster = roster_for(*[(f"person{i}@example.com", status if i == 2 else "active", None) for i in range(5)])
    out = R.offboarding(F.users(USERS_5), roster, as_of=AS_OF)
    assert out.status == "warn" and out.observed == 0
    assert rows_of(out, status="warn")["email"].tolist() == ["person2@example.com"]


def test_an_unknown_status_warns_listing_the_rows_until_the_policy_names_it():
    roster = roster_for(*[(f"person{i}@example.com", "active", None) for i in range(4)],
                        ("person4@example.com", "Gone Fishing", None), ("nobody@example.com", "alumni", None))
    out = R.offboarding(F.users(USERS_5), roster, as_of=AS_OF)
    assert out.status == "warn"
    unknown = rows_of(out, status="warn")
    assert set(unknown["item_id"]) == {"person4@example.com", "nobody@example.com"}
    assert set(unknown["item_type"]) == {"roster_entry"}
    assert "gone fishing" in out.reason

    named = R.offboarding(F.users(USERS_5), roster, as_of=AS_OF, terminated_statuses=["gone fishing"],
                          active_statuses=["alumni"])
    assert named.status == "fail" and rows_of(named, status="fail")["email"].tolist() == ["person4@example.com"]
    assert rows_of(named, status="warn").empty
