"""report.html: the day's evidence in one self-contained page a person can read.

No scripts, no external stylesheets, fonts or images: the file must render the same from an S3
console download, an auditor's laptop offline, or an archive years later. Every piece of text is
escaped (user names and emails come from the API and may contain markup).
"""

from __future__ import annotations

import html
import json
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from aircall_pipeline.evidence.manifest import Artifact

ITEM_ROW_LIMIT = 200
ITEM_COLUMN_LIMIT = 12
CELL_CHAR_LIMIT = 300
SHOWN_ITEM_STATUSES = ("fail", "warn", "error")

STATUS_COLOURS = {
    "pass": ("#1b5e20", "#e8f5e9"),
    "fail": ("#b71c1c", "#ffebee"),
    "warn": ("#8a5300", "#fff8e1"),
    "skip": ("#455a64", "#eceff1"),
    "error": ("#6a1b9a", "#f3e5f5"),
}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2rem;color:#212121;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
h3{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600;padding:.1rem .4rem;border-radius:.2rem;white-space:nowrap}
.meta td:first-child{font-weight:600;background:#fafafa}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
.note{color:#555;font-size:.9rem}
"""


def esc(value: Any) -> str:
    """Text for HTML: None -> empty, containers -> compact JSON, long values cut."""
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    if len(text) > CELL_CHAR_LIMIT:
        text = text[: CELL_CHAR_LIMIT - 1] + "…"
    return html.escape(text, quote=True)


def status_badge(status: Any) -> str:
    fg, bg = STATUS_COLOURS.get(str(status), ("#212121", "#ffffff"))
    return (
        f'<span class="status status-{esc(status)}" style="color:{fg};background:{bg}">{esc(status)}</span>'
    )


def href(target: str, report_dir: str) -> str:
    """A relative link from the report's folder to another root-relative path, URL-quoted."""
    return html.escape(quote(posixpath.relpath(target, report_dir), safe="/="), quote=True)


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
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Aircall compliance evidence: {esc(company)} {esc(date)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Aircall compliance evidence: {esc(company)}</h1>",
        '<table class="meta">',
    ]
    for label, value in (
        ("Evidence date", date),
        ("Collected at (UTC)", collected_at),
        ("Run id", run_id),
        ("Pipeline version", package_version),
        ("API", api_url),
        ("Report attempt", attempt),
    ):
        out.append(f"<tr><td>{esc(label)}</td><td>{esc(value)}</td></tr>")
    out.append("</table>")
    out.append(
        '<p class="note">manifest.json in this folder lists the SHA-256, size and row count of every '
        "file below; <code>aircall-pipeline verify EVIDENCE_URI --date "
        f"{esc(date)}</code> re-checks them.</p>"
    )

    out.append("<h2>Checks</h2>")
    out.append(
        "<p>"
        + ", ".join(f"{status_badge(s)} {n}" for s, n in sorted(counts.items()))
        + f" ({len(checks)} checks)</p>"
    )
    out.append(
        "<table><thead><tr><th>Id</th><th>Check</th><th>Status</th><th>Observed</th>"
        "<th>Threshold</th><th>Controls</th><th>Reason</th></tr></thead><tbody>"
    )
    for check in checks:
        out.append(
            f'<tr><td><a href="#{esc(check.get("id"))}">{esc(check.get("id"))}</a></td>'
            f"<td>{esc(check.get('name'))}</td><td>{status_badge(check.get('status'))}</td>"
            f"<td>{esc(check.get('observed'))}</td><td>{esc(check.get('threshold'))}</td>"
            f"<td>{esc(', '.join(map(str, check.get('controls') or [])))}</td>"
            f"<td>{esc(check.get('reason'))}</td></tr>"
        )
    out.append("</tbody></table>")

    out.append("<h2>Findings</h2>")
    for check in checks:
        items = _shown_items(check)
        total_items = len(check.get("items") or [])
        out.append(
            f'<h3 id="{esc(check.get("id"))}">{esc(check.get("id"))} {esc(check.get("name"))} '
            f"{status_badge(check.get('status'))}</h3>"
        )
        if check.get("reason"):
            out.append(f"<p>{esc(check.get('reason'))}</p>")
        if not items:
            out.append(f'<p class="note">No failing or warning items ({total_items} items evaluated).</p>')
            continue
        columns = _columns(items)
        out.append(
            "<table><thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr></thead><tbody>"
        )
        for item in items[:item_limit]:
            out.append(
                "<tr>"
                + "".join(
                    f"<td>{status_badge(item.get(c)) if c == 'status' else esc(item.get(c))}</td>"
                    for c in columns
                )
                + "</tr>"
            )
        out.append("</tbody></table>")
        # Producers may cap `items` and give the full count in `items_total`.
        total = max(len(items), int(check.get("items_total") or 0))
        if total > min(len(items), item_limit):
            more = total - min(len(items), item_limit)
            where = []
            findings_table = check.get("findings_table")
            if findings_table in tables:
                csv_artifact = tables[findings_table][-1]
                where.append(
                    f'the <a href="{href(csv_artifact.path, report_dir)}">{esc(findings_table)} CSV</a> (every item)'
                )
            where.append(
                f'<a href="{href(checks_path, report_dir)}">{esc(posixpath.basename(checks_path))}</a>'
            )
            out.append(
                f'<p class="note">… and {more} more items, not shown here: see {" and ".join(where)}.</p>'
            )

    out.append("<h2>Evidence files</h2>")
    out.append(
        "<table><thead><tr><th>Table</th><th>Rows</th><th>Parquet</th><th>CSV</th><th>SHA-256 (Parquet)</th>"
        "</tr></thead><tbody>"
    )
    for name in sorted(tables):
        artifacts = tables[name]
        links = [
            f'<a href="{href(a.path, report_dir)}">{esc(posixpath.basename(a.path))}</a> '
            f'<span class="note">({a.bytes:,} bytes)</span>'
            for a in artifacts
        ]
        rows = artifacts[0].rows if artifacts else None
        out.append(
            f'<tr><td>{esc(name)}</td><td class="num">{esc(rows)}</td>'
            + "".join(f"<td>{link}</td>" for link in links)
            + f'<td class="hash">{esc(artifacts[0].sha256 if artifacts else "")}</td></tr>'
        )
    out.append("</tbody></table>")
    out.append(
        f'<p class="note">All check results with every item: <a href="{href(checks_path, report_dir)}">'
        f"{esc(posixpath.basename(checks_path))}</a>.</p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
