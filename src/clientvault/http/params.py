"""The inputs of the API's and the console's routes checked in one place: integers bounded,
no NUL character in text.

Ids, cursors and offsets are 64-bit signed integers in the database (SQLite's INTEGER,
PostgreSQL's BIGINT). A larger number in a URL reached the driver, which raised
``OverflowError``: a 500. Every route takes these types instead of a bare ``int``, so such a
number is refused with a 422 before any query runs.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Path, Query, Request

from clientvault.errors import InvalidInput

#: The largest value of a 64-bit signed database integer.
MAX_BIGINT = 2**63 - 1

#: A row id in the path (``/alerts/{alert_id}``).
RowId = Annotated[int, Path(ge=1, le=MAX_BIGINT)]
#: Keyset paging: only rows with a smaller id (the next, older page).
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_BIGINT)]
#: Keyset paging: only rows with a larger id (the previous, newer page).
AfterId = Annotated[int | None, Query(ge=0, le=MAX_BIGINT)]
#: How many rows to skip.
Offset = Annotated[int, Query(ge=0, le=MAX_BIGINT)]


async def refuse_nul_characters(request: Request) -> None:
    """Refuse (422) a NUL character (U+0000) in the query, the path or a JSON or form body.

    PostgreSQL's text and JSONB cannot hold it, so such a value reached the database and
    failed there: a 500 (SQLite stored it). The tracking API (``/v1/``) reads and checks its
    own bodies as they stream, and uploads stream to their route: both are left alone.
    """
    if request.url.path.startswith(_OWN_BODIES):
        return
    values: list[object] = [*request.query_params.values(), *request.path_params.values()]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json") and (body := await request.body()):
        try:
            # orjson, not request.json(): its parser refuses documents nested past 1,024
            # levels with a ValueError, where the standard library's recurses until it fails.
            values.append(orjson.loads(body))
        except ValueError:
            return  # not JSON, or too deep: the route's own validation answers
    elif content_type.startswith("application/x-www-form-urlencoded"):
        values.extend((await request.form()).values())  # cached for the route too
    if any(_holds_nul(value) for value in values):
        raise InvalidInput("text may not contain the NUL character (U+0000)")


#: Paths whose routes read their bodies themselves.
_OWN_BODIES = ("/v1/", "/api/v1/imports/")


def _holds_nul(document: object) -> bool:
    """Whether a NUL character is in any string of ``document``, its keys included; walked
    with a stack of its own, so a deeply nested body cannot exhaust Python's recursion."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
