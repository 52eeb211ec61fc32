"""How the sandbox pages a list, and reads the query parameters every list shares.

As observed live (https://github.com/estuary/connectors, source-aircall-native/bruno/): `per_page`
defaults to 20 and is silently clamped to 50 (`Users/per_page limits probe.yml`); `meta` carries
absolute next/previous links with the filters, `order` and `per_page`, sorted like
`?order=asc&page=3&per_page=1` (`_top-level/page walk.yml`); any `page * per_page > 10000` is a 400
whatever the total (`Calls/page past cap.yml`); `/v1/calls` windows on `started_at`, from exclusive,
to inclusive (`Calls/from bound probe.yml`, `Calls/to bound probe.yml`). The 10,000-result limit is
Aircall's own (https://support.aircall.io/en-gb/articles/34702023578397).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from aircall_pipeline.aircall.windows import MAX_RESULTS
from aircall_pipeline.sandbox.responses import CAP_EXCEEDED_BODY, BadRequest, Response, bad_parameter

MAX_PER_PAGE = 50
DEFAULT_PER_PAGE = 20


def page_response(
    plural: str,
    path: str,
    params: dict[str, str],
    indexes: Sequence[int],
    render: Callable[[int], dict[str, Any]],
    *,
    base_url: str,
    next_base_url: Callable[[], str],
    bare_links: bool,
    links: bool = True,
) -> Response:
    """One page of `indexes` as `{plural: [...], "meta": {...}}`. `next_base_url` is asked only when
    there is a next page (a foreign-link fault is consumed by the page that carries it); `links=False`
    is the `/v1/webhooks` form, whose meta has no link keys at all."""
    page = _int_param(params, "page", 1, minimum=1)
    per_page = min(_int_param(params, "per_page", DEFAULT_PER_PAGE, minimum=1), MAX_PER_PAGE)
    if page * per_page > MAX_RESULTS:
        raise BadRequest(CAP_EXCEEDED_BODY)
    order = params.get("order", "asc").lower()
    if order not in ("asc", "desc"):
        raise bad_parameter("order", "use asc or desc")
    ordered = indexes if order == "asc" else indexes[::-1]
    start = (page - 1) * per_page
    items = [render(i) for i in ordered[start:start + per_page]]
    total = len(indexes)
    if not links:
        meta = {"count": len(items), "total": total, "current_page": page, "per_page": per_page}
        return 200, {plural: items, "meta": meta}, {}
    next_link = previous_link = None
    if page * per_page < total:
        next_link = _link(next_base_url(), path, params, order, page + 1, per_page)
    if page > 1:
        previous_link = _link(base_url, path, params, order, page - 1, per_page)
    if bare_links:
        # The form Aircall's reference documents: no from, to or order in the link.
        next_link = next_link and f"{next_link.split('?')[0]}?page={page + 1}&per_page={per_page}"
        previous_link = previous_link and f"{previous_link.split('?')[0]}?page={page - 1}&per_page={per_page}"
    meta = {
        "count": len(items),
        "total": total,
        "current_page": page,
        "per_page": per_page,
        "next_page_link": next_link,
        "previous_page_link": previous_link,
    }
    return 200, {plural: items, "meta": meta}, {}


def _link(base: str, path: str, params: dict[str, str], order: str, page: int, per_page: int) -> str:
    # Keys sorted like the live links (`?order=asc&page=3&per_page=1`), filters carried over.
    query = {**params, "order": order, "page": str(page), "per_page": str(per_page)}
    return f"{base}{path}?{urlencode(sorted(query.items()))}"


def _int_param(params: dict[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_parameter(name, "expected an integer") from None
    return max(value, minimum)


def window_params(params: dict[str, str]) -> tuple[int | None, int | None]:
    """`from`/`to` as UNIX seconds. ISO strings are refused (the live API silently misreads them)."""
    bounds = []
    for name in ("from", "to"):
        raw = params.get(name)
        if raw in (None, ""):
            bounds.append(None)
            continue
        try:
            bounds.append(int(raw))
        except ValueError:
            raise bad_parameter(name, "expected a UNIX timestamp in seconds") from None
    return bounds[0], bounds[1]


def in_window(moment: int, low: int | None, high: int | None) -> bool:
    return (low is None or moment > low) and (high is None or moment <= high)
