"""report.html: self-contained, escaped, capped, with relative links that resolve to the stored files."""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser

from markupsafe import escape

from aircall_pipeline.evidence.report import render_report
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline_tests.evidence.conftest import users_frame

DAY = "2026-03-14"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes" \'single\''


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.links, self.text, self.attrs = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        self.attrs.append((tag, attrs))
        if tag == "a":
            self.links.append(attrs.get("href"))
        for name in ("src", "onerror", "onload"):
            assert name not in attrs, f"unexpected {name} attribute on <{tag}>"

    def handle_data(self, data):
        self.text.append(data)


def failing_check(n_items: int, *, name: str = "shared_accounts") -> dict:
    return {
        "id": "AC-05",
        "name": name,
        "status": "fail",
        "observed": n_items,
        "threshold": "no generic mailboxes",
        "controls": ["SOC2:CC6.2"],
        "reason": f"{n_items} shared accounts",
        "items": [
            {"check_id": "AC-05", "status": "fail", "item_type": "user", "item_id": i,
             "item_label": HOSTILE if i == 0 else f"user{i}@example.com", "reason": "generic mailbox"}
            for i in range(n_items)
        ] + [{"check_id": "AC-05", "status": "pass", "item_id": 9999, "item_label": "fine-user"}],
    }


def test_hostile_names_are_escaped_and_page_is_self_contained(local_store: EvidenceStore):
    users = users_frame((HOSTILE, "Grace"))
    local_store.write_table("users", DAY, users)
    manifest = local_store.write_report(
        DAY,
        checks=[failing_check(3)],
        manifest_fields={"run_id": "r<1>", "api_url": "https://api.aircall.io", "company": HOSTILE,
                         "requests": {}, "collected_at": "2026-03-15T02:00:00Z"},
        tables=["users"],
    )
    html = local_store.backend.get(f"aircall/reports/date={DAY}/report.html").decode("utf-8")
    assert "<script" not in html.lower()
    assert str(escape('<script>alert("x")</script>')) in html
    assert "r&lt;1&gt;" in html
    parsed = Collector()
    parsed.feed(html)
    assert "script" not in parsed.tags and "img" not in parsed.tags and "link" not in parsed.tags
    assert not [href for href in parsed.links if re.match(r"^[a-z]+:", href or "")]  # no external links
    assert HOSTILE in "".join(parsed.text)  # readable again once unescaped
    # Header facts are present.
    for text in (DAY, "2026-03-15T02:00:00Z", manifest["package_version"], "AC-05", "SOC2:CC6.2"):
        assert text in html
    assert "fine-user" not in html  # passing items are not listed as findings


def test_links_resolve_to_the_stored_files(local_store: EvidenceStore):
    local_store.write_table("users", DAY, users_frame())
    local_store.write_table("users", DAY, users_frame(("Other",)))  # attempt 2 is the one linked
    local_store.write_report(
        DAY, checks=[failing_check(1)], tables=["users"],
        manifest_fields={"run_id": "r", "api_url": "u", "company": "c", "requests": {}, "collected_at": "2026-03-15"},
    )
    html = local_store.backend.get(f"aircall/reports/date={DAY}/report.html").decode()
    parsed = Collector()
    parsed.feed(html)
    folder = f"aircall/reports/date={DAY}"
    targets = {posixpath.normpath(posixpath.join(folder, href.replace("%3D", "="))) for href in parsed.links
               if not href.startswith("#")}
    assert f"aircall/users/date={DAY}/users.attempt-2.parquet" in targets
    assert f"aircall/users/date={DAY}/users.attempt-2.csv" in targets
    assert f"{folder}/checks.json" in targets
    for target in targets:
        assert local_store.backend.head(target) is not None, target


def test_long_findings_are_capped_with_a_pointer_to_the_full_data():
    html = render_report(
        date=DAY, company="c", collected_at="t", run_id="r", package_version="v", api_url="u",
        checks=[{**failing_check(450), "findings_table": "ac05_shared_accounts"}],
        tables={}, report_dir=f"aircall/reports/date={DAY}", checks_path=f"aircall/reports/date={DAY}/checks.json",
        item_limit=200,
    )
    assert html.count("user1") >= 1 and "user199@" in html and "user200@" not in html
    assert "250 more items" in html and "checks.json" in html


def test_status_colours_and_summary():
    checks = [{"id": f"AC-0{i}", "name": s, "status": s, "items": []}
              for i, s in enumerate(("pass", "fail", "warn", "skip", "error"))]
    html = render_report(date=DAY, company="c", collected_at="t", run_id="r", package_version="v", api_url="u",
                         checks=checks, tables={}, report_dir="a/b", checks_path="a/b/checks.json")
    for status in ("pass", "fail", "warn", "skip", "error"):
        assert f'class="status status-{status}"' in html
    assert "(5 checks)" in html


def test_more_items_points_to_the_findings_csv(local_store: EvidenceStore):
    local_store.write_table("ac05_shared_accounts", DAY, users_frame())
    check = {**failing_check(3), "items_total": 1200}  # the producer capped the items it passed
    local_store.write_report(
        DAY, checks=[check], tables=["ac05_shared_accounts"],
        manifest_fields={"run_id": "r", "api_url": "u", "company": "c", "requests": {}, "collected_at": "2026-03-15"},
    )
    html = local_store.backend.get(f"aircall/reports/date={DAY}/report.html").decode()
    assert "1197 more items" in html
    assert 'href="../../ac05_shared_accounts/date=2026-03-14/ac05_shared_accounts.csv"' in html


ATTRIBUTE_BREAKOUT = '"><img src=x onerror=alert(document.domain)><script>alert(1)</script>'


def test_hostile_values_in_attributes_and_text_stay_text():
    """A value that tries to close an attribute or a tag, wherever the template puts it: in an id and
    an anchor (the check id), a class (the status), the page title and the cells."""
    check = {"id": ATTRIBUTE_BREAKOUT, "name": ATTRIBUTE_BREAKOUT, "status": ATTRIBUTE_BREAKOUT,
             "observed": {"label": ATTRIBUTE_BREAKOUT}, "threshold": ATTRIBUTE_BREAKOUT, "controls": [ATTRIBUTE_BREAKOUT],
             "reason": ATTRIBUTE_BREAKOUT,
             "items": [{"status": "fail", "item_label": ATTRIBUTE_BREAKOUT, ATTRIBUTE_BREAKOUT: "column name"}]}
    html = render_report(date=DAY, company=ATTRIBUTE_BREAKOUT, collected_at=ATTRIBUTE_BREAKOUT,
                         run_id=ATTRIBUTE_BREAKOUT, package_version="v", api_url=ATTRIBUTE_BREAKOUT,
                         checks=[check], tables={}, report_dir="a/b", checks_path="a/b/checks.json")
    parsed = Collector()  # also refuses any src/onerror/onload attribute
    parsed.feed(html)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "table",
                                "thead", "tbody", "tr", "th", "td", "p", "code", "a", "span"}
    assert "<script" not in html.lower() and "<img" not in html.lower()
    # The value stayed whole inside its attributes: the heading's id and the anchor to it.
    assert ("h3", {"id": ATTRIBUTE_BREAKOUT}) in parsed.attrs
    assert ATTRIBUTE_BREAKOUT in "".join(parsed.text)
    assert f'href="#{escape(ATTRIBUTE_BREAKOUT)}"' in html
