"""The API's one way of paging a list: ``limit`` and a keyset cursor ``before``.

A list endpoint answers a JSON array of at most ``limit`` items, newest (or highest id) first;
when more follow, its ``Link`` header (RFC 8288) names the next page with ``rel="next"``:
the same URL with ``before`` set to the last item's id. Keyset rather than offset: a page
costs the same however deep it is, and rows written meanwhile do not shift the pages.
"""

from __future__ import annotations

from fastapi import Request, Response


def link_next(request: Request, response: Response, *, before: str) -> None:
    """Name the next page (``before`` = the last id of this one) in the ``Link`` header."""
    url = request.url.include_query_params(before=before)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
