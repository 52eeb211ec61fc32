"""report.pdf: WeasyPrint's rendering of the report page, sealed with the day, fetching nothing.

No rasteriser is installed here (no pdftoppm, pypdfium2 or Ghostscript), so the page is read the way
WeasyPrint laid it out (the text of page 1's boxes), and the sealed file is tied to that layout by
its bytes: rendering the sealed report.html again gives the sealed report.pdf exactly, with as many
page objects as the layout has pages.
"""

from __future__ import annotations

import re
import zlib

import pytest
import weasyprint

from aircall_pipeline.evidence.pdf import FetchRefused, RefusingFetcher, render_pdf
from aircall_pipeline_tests.compliance.sealed_day import REPORTS, seal


def box_text(box) -> str:
    """Every text of a layout box and its descendants, in reading order."""
    own = getattr(box, "text", None)
    return (own or "") + " ".join(box_text(child) for child in getattr(box, "children", []) or [])


def page_objects(pdf: bytes) -> int:
    """How many /Type /Page dictionaries the file holds (WeasyPrint packs them in compressed streams)."""
    chunks = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            chunks.append(zlib.decompress(match[1]))
        except zlib.error:
            continue  # a stream that is not Flate-compressed holds no dictionaries of ours
    return sum(len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", chunk)) for chunk in chunks)


def test_the_sealed_pdf_is_the_report_page_with_the_verdicts_on_page_one(local_store, real_pdf):
    manifest = seal(local_store)
    listed = {a.path: a for a in manifest.artifacts}
    pdf = local_store.backend.get(f"{REPORTS}/report.pdf")
    assert listed[f"{REPORTS}/report.pdf"].bytes == len(pdf) and pdf.startswith(b"%PDF-")
    html = local_store.backend.get(f"{REPORTS}/report.html").decode("utf-8")
    # Fewer items than the PDF's row limit: the PDF was rendered from exactly the sealed page.
    assert render_pdf(html) == pdf
    document = weasyprint.HTML(string=html, url_fetcher=RefusingFetcher()).render()
    assert page_objects(pdf) == len(document.pages) >= 1
    first = " ".join(box_text(document.pages[0]._page_box).split())
    assert "Aircall compliance evidence: Northwind" in first
    for check_id, status in (("AC-01", "pass"), ("AC-05", "fail"), ("AC-08", "warn")):
        assert re.search(rf"{check_id} \w+ {status}\b", first), (check_id, first[:2000])


def test_the_pdf_of_a_long_report_is_capped_but_says_where_the_rest_is(local_store):
    from aircall_pipeline.evidence import intake
    from aircall_pipeline.evidence.report import render_report

    html = render_report(
        date="2026-03-13", company="Northwind", collected_at="", run_id="r", package_version="0", api_url="",
        checks=[{"id": "AC-05", "name": "shared_accounts", "status": "fail",
                 "items": [{"item_id": f"u{i}@example.com", "status": "fail"} for i in range(80)]}],
        tables={}, report_dir=REPORTS, checks_path=f"{REPORTS}/checks.json", item_limit=intake.PDF_ITEM_ROW_LIMIT)
    page = " ".join(box_text(p._page_box) for p in weasyprint.HTML(string=html).render().pages)
    assert "u49@example.com" in page and "u50@example.com" not in page
    assert f"{80 - intake.PDF_ITEM_ROW_LIMIT} more items" in " ".join(page.split())


@pytest.mark.parametrize("tag", [
    '<img src="http://127.0.0.1:9/logo.png">',
    '<img src="file:///etc/hostname">',
    '<link rel="stylesheet" href="https://example.com/style.css">',
])
def test_rendering_fetches_nothing(tag):
    with pytest.raises(FetchRefused, match="self-contained: refused to fetch"):
        render_pdf(f"<html><head>{tag}</head><body><p>x</p>{tag}</body></html>")
