"""AC-11 webhook egress, as a pure function over small `webhooks` frames: each branch (pass, fail for
transport and for destination, warn for all events and for too many webhooks, skip without an
allow-list, inactive webhooks never failing) and the allow-list's domain matching."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from aircall_pipeline.compliance import catalogue as cat
from aircall_pipeline.compliance.rules import BASE_COLUMNS, RuleInputError
from aircall_pipeline.compliance.rules.egress import approved_domain, is_approved, webhook_egress
from aircall_pipeline.ingest.normalize import WEBHOOKS, frame

APPROVED = ("zapier.example", "crm.example")


def hook(webhook_id: str, domain: str | None = "hooks.zapier.example", *, scheme: str | None = "https",
         active: bool | None = True, events: str | None = "call.ended", created_at: str = "2026-01-01T00:00:00Z"):
    count = None if events is None else len([e for e in events.split(";") if e])
    return {"webhook_id": webhook_id, "url_domain": domain, "url_scheme": scheme, "active": active,
            "events": events, "event_count": count, "created_at": created_at}


def hooks(*rows: dict) -> pd.DataFrame:
    return frame(list(rows), WEBHOOKS)


def check(webhooks, approved=APPROVED, max_webhooks=20):
    outcome = webhook_egress(webhooks, approved_domains=approved, max_webhooks=max_webhooks)
    assert (outcome.check_id, outcome.name, outcome.controls) == ("AC-11", "webhook_egress", cat.AC_11.controls)
    assert tuple(outcome.findings.columns[:6]) == BASE_COLUMNS
    assert outcome.findings["status"].isin(cat.STATUSES).all()
    assert outcome.threshold and outcome.reason
    json.dumps(outcome.summary())
    return outcome


def status_of(outcome, item_id: str) -> str:
    [status] = outcome.findings.loc[outcome.findings["item_id"] == item_id, "status"]
    return status


def reason_of(outcome, item_id: str) -> str:
    [reason] = outcome.findings.loc[outcome.findings["item_id"] == item_id, "reason"]
    return reason


def test_catalogue_entry():
    assert cat.BY_ID["AC-11"] is cat.AC_11 and cat.BY_NAME["webhook_egress"] is cat.AC_11
    assert cat.AC_11.severity == cat.SEVERITY_ERROR and not cat.AC_11.blocking
    assert set(cat.AC_11.controls) == {"ISO27001:A.5.14", "ISO27001:A.5.19", "ISO27001:A.5.20", "ISO27001:A.5.21",
                                       "SOC2:CC6.6", "SOC2:CC9.2", "GDPR:Art.28", "GDPR:Art.30"}


def test_https_to_approved_domains_with_listed_events_passes():
    out = check(hooks(hook("a"), hook("b", "crm.example"), hook("c", "deep.hooks.zapier.example")))
    assert (out.status, out.observed) == (cat.PASS, 0)
    assert out.findings["status"].tolist() == [cat.PASS] * 3  # every webhook listed: the inventory
    assert out.findings["approved"].tolist() == [True] * 3
    assert "zapier.example" in out.threshold and "20" in out.threshold


def test_an_active_webhook_over_plain_http_fails_even_to_an_approved_domain():
    out = check(hooks(hook("ok"), hook("plain", scheme="http"), hook("bare", scheme=None)))
    assert (out.status, out.observed) == (cat.FAIL, 2)
    assert status_of(out, "plain") == status_of(out, "bare") == cat.FAIL
    assert "http, not https" in reason_of(out, "plain") and "no scheme" in reason_of(out, "bare")
    assert out.findings["status"].iloc[0] == cat.FAIL  # worst first


@pytest.mark.parametrize("domain, approved", [
    ("zapier.example", True),
    ("hooks.zapier.example", True),  # a subdomain of an approved domain
    ("evilzapier.example", False),  # a look-alike is not a subdomain
    ("zapier.example.evil.example", False),
    ("example", False),  # the parent of an approved domain is not approved
    ("requestbin.example", False),
])
def test_destination_domain_against_the_allow_list(domain, approved):
    out = check(hooks(hook("w", domain)))
    assert out.status == (cat.PASS if approved else cat.FAIL)
    assert out.findings["approved"].iloc[0] == approved
    if not approved:
        assert f"{domain} is not an approved webhook domain" in reason_of(out, "w")


def test_a_webhook_without_a_readable_host_fails():
    out = check(hooks(hook("nohost", None)))
    assert out.status == cat.FAIL and "no readable host" in reason_of(out, "nohost")
    assert out.findings["item_label"].iloc[0] == "(no readable host)"


def test_an_empty_allow_list_approves_nothing():
    out = check(hooks(hook("a"), hook("off", active=False)), approved=())
    assert out.status == cat.FAIL
    assert (status_of(out, "a"), status_of(out, "off")) == (cat.FAIL, cat.PASS)


def test_all_events_or_unlisted_events_warn():
    out = check(hooks(hook("ok"), hook("all", events=""), hook("unknown", events=None)))
    assert (out.status, out.observed) == (cat.WARN, 2)
    assert status_of(out, "all") == status_of(out, "unknown") == cat.WARN
    assert "all events" in reason_of(out, "all") and "did not say" in reason_of(out, "unknown")


def test_fail_outranks_warn():
    out = check(hooks(hook("all", events=""), hook("plain", scheme="http")))
    assert out.status == cat.FAIL
    assert out.findings["item_id"].tolist() == ["plain", "all"]


def test_more_webhooks_than_the_policy_allows_warn_with_an_account_row():
    many = hooks(*(hook(f"w{i}") for i in range(4)))
    assert check(many, max_webhooks=4).status == cat.PASS  # at the limit
    out = check(many, max_webhooks=3)
    assert (out.status, out.observed) == (cat.WARN, 1)
    row = out.findings[out.findings["item_type"] == "account"]
    assert row["item_id"].tolist() == ["webhook_count"] and row["status"].tolist() == [cat.WARN]
    assert "max_webhooks (3)" in row["reason"].iloc[0]
    # Inactive webhooks count too: anyone with admin rights can switch them back on.
    assert check(hooks(hook("a"), hook("b", active=False)), max_webhooks=1).status == cat.WARN


def test_inactive_webhooks_are_listed_and_never_fail():
    out = check(hooks(hook("off", "requestbin.example", scheme="http", active=False, events="")))
    assert out.status == cat.PASS
    assert status_of(out, "off") == cat.PASS
    reason = reason_of(out, "off")
    assert reason.startswith("Inactive") and "http, not https" in reason and "requestbin.example" in reason


def test_without_an_allow_list_the_check_skips_but_lists_every_destination():
    webhooks = hooks(hook("a"), hook("plain", "bridge.example", scheme="http"), hook("off", active=False))
    out = check(webhooks, approved=None)
    assert (out.status, out.observed) == (cat.SKIP, None)
    assert "approved_webhook_domains" in out.reason and "approved_webhook_domains" in out.threshold
    assert sorted(out.findings["item_id"]) == ["a", "off", "plain"]  # one row per webhook
    assert (status_of(out, "a"), status_of(out, "plain"), status_of(out, "off")) == (cat.SKIP, cat.SKIP, cat.PASS)
    assert out.findings["item_label"].tolist()[:2] == ["hooks.zapier.example", "bridge.example"]
    assert "http, not https" in reason_of(out, "plain")  # the facts are still stated
    assert out.findings["approved"].isna().all()


def test_no_webhooks_pass_and_no_snapshot_skips():
    for approved in (APPROVED, None):
        out = check(hooks(), approved=approved)
        assert (out.status, out.observed, len(out.findings)) == (cat.PASS, 0, 0)
    missing = check(None)
    assert missing.status == cat.SKIP and "not collected" in missing.reason


def test_a_table_without_the_needed_columns_is_an_input_error():
    with pytest.raises(RuleInputError, match="webhooks table lacks column"):
        webhook_egress(pd.DataFrame({"webhook_id": ["a"]}), approved_domains=APPROVED)


def test_findings_keep_the_typed_evidence_columns():
    out = check(hooks(hook("a", created_at="2026-02-03T04:05:06.000Z")))
    f = out.findings
    assert list(f.columns[6:]) == ["url_domain", "url_scheme", "active", "approved", "events", "event_count",
                                   "created_at"]
    assert str(f["created_at"].dtype) == "datetime64[us, UTC]"
    assert f["created_at"].iloc[0] == pd.Timestamp("2026-02-03T04:05:06Z")
    assert f["event_count"].iloc[0] == 1 and f["url_scheme"].iloc[0] == "https"


@pytest.mark.parametrize("entry, expected", [
    ("zapier.com", "zapier.com"),
    ("  Hooks.Zapier.COM. ", "hooks.zapier.com"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
])
def test_allow_list_entries_are_normalised(entry, expected):
    assert approved_domain(entry) == expected


@pytest.mark.parametrize("entry, message", [
    ("", "non-empty"),
    (None, "non-empty"),
    ("https://hooks.zapier.com/x", "is a URL"),
    ("zapier.com/hooks", "is a URL"),
    ("*.zapier.com", "no wildcard"),
    ("zapier.com:443", "without a user, password or port"),
    ("me@zapier.com", "without a user, password or port"),
    ("com", "at least two labels"),
    ("localhost", "at least two labels"),
    ("-bad.example", "at least two labels"),
    ("bücher.example", "punycode"),
])
def test_allow_list_entries_that_are_not_domains_are_refused(entry, message):
    with pytest.raises(ValueError, match=message):
        approved_domain(entry)


def test_is_approved_needs_a_domain():
    assert not is_approved(None, APPROVED) and not is_approved("", APPROVED) and not is_approved(pd.NA, APPROVED)


# -- the policy's AC-11 keys -----------------------------------------------------------------------


def test_policy_defaults_have_no_allow_list_and_twenty_webhooks():
    from aircall_pipeline.config.policy import CompliancePolicy

    p = CompliancePolicy()
    assert (p.approved_webhook_domains, p.max_webhooks) == (None, 20)
    assert p.to_dict()["approved_webhook_domains"] is None


def test_policy_file_allow_list_is_validated_and_normalised(tmp_path):
    from aircall_pipeline.config.policy import CompliancePolicy

    path = tmp_path / "policy.yaml"
    path.write_text("approved_webhook_domains: [Zapier.com, 'hooks.zapier.com.', zapier.com]\nmax_webhooks: 5\n")
    p = CompliancePolicy.from_file(path)
    assert (p.approved_webhook_domains, p.max_webhooks) == (("zapier.com", "hooks.zapier.com"), 5)
    assert json.loads(json.dumps(p.to_dict()))["approved_webhook_domains"] == ["zapier.com", "hooks.zapier.com"]
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"approved_webhook_domains": []}))  # a policy that approves nothing
    assert CompliancePolicy.from_file(empty).approved_webhook_domains == ()
    unset = tmp_path / "unset.yaml"
    unset.write_text("approved_webhook_domains:\n")
    assert CompliancePolicy.from_file(unset).approved_webhook_domains is None
