"""report.pdf: WeasyPrint's rendering of the report page, sealed with the day, fetching nothing.

The page is read the way WeasyPrint laid it out (the text of page 1's boxes), and the sealed file is
tied to that layout by its bytes: rendering the sealed report.html again gives the sealed report.pdf
exactly, with as many page objects as the layout has pages. Then page 1 is rasterised (PDFium, the
engine of Chrome's PDF viewer) and looked at as an image, the way a reader sees it.
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


def test_page_one_as_a_reader_sees_it(local_store, real_pdf, tmp_path):
    """Rasterised, page 1 is an A4 page with ink on it: the title band at the top and the check table
    below, on a white page with a blank right margin (a blank, black or cut-off page fails)."""
    import pypdfium2

    seal(local_store)
    pdf = pypdfium2.PdfDocument(local_store.backend.get(f"{REPORTS}/report.pdf"))
    page = pdf[0]
    width, height = page.get_size()  # points
    assert abs(height / width - 297 / 210) < 0.01, (width, height)  # A4 portrait
    image = page.render(scale=1).to_pil().convert("L")
    image.save(tmp_path / "page1.png")  # kept in pytest's tmp dir, to look at when this fails
    pixels = image.load()
    w, h = image.size

    def ink(top: float, bottom: float) -> float:
        """The share of dark pixels in a horizontal band of the page (fractions of its height)."""
        rows = range(int(h * top), int(h * bottom))
        dark = sum(1 for y in rows for x in range(0, w, 2) if pixels[x, y] < 128)
        return dark / (len(rows) * len(range(0, w, 2)))

    assert 0.001 < ink(0.0, 0.15) < 0.5  # the title
    assert 0.005 < ink(0.15, 0.9) < 0.5  # the checks table: text, not a solid block
    # Nothing runs off the page: the right margin is blank (a table wider than the page would be cut
    # at the edge, its last column unreadable).
    assert ink(0.0, 1.0) > 0 and all(pixels[x, y] > 200 for y in range(0, h, 2) for x in range(int(w * 0.97), w))
    white = sum(1 for y in range(0, h, 4) for x in range(0, w, 4) if pixels[x, y] > 240)
    assert white / (len(range(0, h, 4)) * len(range(0, w, 4))) > 0.6
