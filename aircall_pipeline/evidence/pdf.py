"""report.pdf: the day's report page as a PDF, for the platforms and auditors that file PDFs.

It is rendered by WeasyPrint from the very HTML of `report.py`'s template, so the two never disagree
on a verdict. Self-contained like the page: nothing is fetched while rendering. The template refers
to no stylesheet, font or image; should it ever do so (or should a value somehow become one), the
refusing fetcher stops the rendering instead of letting a sealed file depend on a network or a disk.
Fonts are the system's (fontconfig), as for any reader of the page.
"""

from __future__ import annotations

from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher


class FetchRefused(ValueError):
    """Raised for any URL the renderer asks for."""


class RefusingFetcher(URLFetcher):
    """A WeasyPrint fetcher that fetches nothing; `fail_on_errors` makes a refusal stop the rendering."""

    def __init__(self) -> None:
        super().__init__(fail_on_errors=True)

    def fetch(self, url: str, headers: dict | None = None):
        raise FetchRefused(f"report.pdf is self-contained: refused to fetch {url}")


def render_pdf(html: str) -> bytes:
    """The PDF bytes of `html`; the same HTML gives the same bytes (WeasyPrint writes no clock time
    unless the page carries one). Raises FetchRefused when the page asks for any URL."""
    try:
        return HTML(string=html, url_fetcher=RefusingFetcher()).write_pdf()
    except FatalURLFetchingError as exc:
        # WeasyPrint's fatal error is a BaseException: it would pass every `except Exception` of the
        # run (and Dagster's step handling) untold. Ours is an ordinary error naming the URL.
        raise FetchRefused(str(exc.__cause__ or exc)) from exc
