"""report.html: the day's evidence in one self-contained page a person can read.

No scripts, no external stylesheets, fonts or images: the file must render the same from an S3
console download, an auditor's laptop offline, or an archive years later. The page is the Jinja2
template `templates/report.html.j2`, rendered with autoescaping on: user names and emails come from
the API and may contain markup, and every value reaches the page escaped unless the template marks
it safe (it marks nothing). This module only shapes the data the template lays out.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

import jinja2

from aircall_pipeline.evidence.manifest import Artifact
from aircall_pipeline.jsonable import to_jsonable

ITEM_ROW_LIMIT = 200
ITEM_COLUMN_LIMIT = 12
CELL_CHAR_LIMIT = 300
SHOWN_ITEM_STATUSES = ("fail", "warn", "error")
TEMPLATE = "report.html.j2"

STATUS_COLOURS = {
    "pass": ("#1b5e20", "#e8f5e9"),
    "fail": ("#b71c1c", "#ffebee"),
    "warn": ("#8a5300", "#fff8e1"),
    "skip": ("#455a64", "#eceff1"),
    "error": ("#6a1b9a", "#f3e5f5"),
}
DEFAULT_COLOURS = ("#212121", "#ffffff")


def text(value: Any) -> str:
    """A value as page text (escaping is the template's): None -> empty, containers -> compact JSON,
    long values cut."""
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        value = json.dumps(to_jsonable(value), ensure_ascii=False, sort_keys=True)
    value = str(value)
    return value if len(value) <= CELL_CHAR_LIMIT else value[: CELL_CHAR_LIMIT - 1] + "…"


def href(target: str, report_dir: str) -> str:
    """A relative link from the report's folder to another root-relative path, URL-quoted."""
    return quote(posixpath.relpath(target, report_dir), safe="/=")


def colours(status: Any) -> dict[str, str]:
    fg, bg = STATUS_COLOURS.get(str(status), DEFAULT_COLOURS)
    return {"fg": fg, "bg": bg}


@jinja2.pass_context
def _href_filter(context: jinja2.runtime.Context, target: str) -> str:
    return href(target, context["report_dir"])


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aircall_pipeline.evidence", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(text=text, href=_href_filter, basename=posixpath.basename)
    env.globals.update(colours=colours)
    return env


_ENV = _environment()


def _shown_items(check: dict[str, Any]) -> list[dict[str, Any]]:
    items = [i for i in check.get("items") or [] if isinstance(i, dict)]
    if any("status" in i for i in items):
        return [i for i in items if i.get("status") in SHOWN_ITEM_STATUSES]
    # Items without their own status: show them when the check as a whole did not pass.
    return items if check.get("status") in SHOWN_ITEM_STATUSES else []


def _columns(items: Iterable[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for item in items:
        for key in item:
            if key not in columns and key != "check_id":
                columns.append(key)
    return columns[:ITEM_COLUMN_LIMIT]


def _check_view(check: dict[str, Any], tables: dict[str, list[Artifact]], item_limit: int) -> dict[str, Any]:
    """One check as the template shows it: its facts, the failing items (capped) and where the rest is."""
    items = _shown_items(check)
    # Producers may cap `items` and give the full count in `items_total`.
    total = max(len(items), int(check.get("items_total") or 0))
    findings_table = check.get("findings_table")
    return {
        "id": check.get("id"),
        "name": check.get("name"),
        "status": check.get("status"),
        "observed": check.get("observed"),
        "threshold": check.get("threshold"),
        "controls": ", ".join(map(str, check.get("controls") or [])),
        "reason": check.get("reason"),
        "evaluated": len(check.get("items") or []),
        "columns": _columns(items),
        "shown": items[:item_limit],
        "more": max(total - min(len(items), item_limit), 0),
        "findings_table": findings_table,
        "findings_csv": tables[findings_table][-1].path if findings_table in tables else None,
    }


def render_report(
    *,
    date: str,
    company: Any,
    collected_at: str,
    run_id: Any,
    package_version: str,
    api_url: str,
    checks: Sequence[dict[str, Any]],
    tables: dict[str, list[Artifact]],
    report_dir: str,
    checks_path: str,
    attempt: int = 1,
    item_limit: int = ITEM_ROW_LIMIT,
) -> str:
    """The HTML text. `tables` maps table name -> its [Parquet, CSV] artifacts (newest attempt);
    links are relative to `report_dir`, so the page works wherever the evidence folder is copied."""
    counts: dict[str, int] = {}
    for check in checks:
        counts[check.get("status", "?")] = counts.get(check.get("status", "?"), 0) + 1
    return _ENV.get_template(TEMPLATE).render(
        date=date,
        company=company,
        facts=[
            ("Evidence date", date),
            ("Collected at (UTC)", collected_at),
            ("Run id", run_id),
            ("Pipeline version", package_version),
            ("API", api_url),
            ("Report attempt", attempt),
        ],
        counts=sorted(counts.items()),
        checks=[_check_view(check, tables, item_limit) for check in checks],
        tables=[
            {"name": name, "artifacts": tables[name], "rows": tables[name][0].rows if tables[name] else None,
             "sha256": tables[name][0].sha256 if tables[name] else ""}
            for name in sorted(tables)
        ],
        report_dir=report_dir,
        checks_path=checks_path,
    )
