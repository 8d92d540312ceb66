"""The integer parameters of the API's and the console's routes, bounded in one place.

Ids, cursors and offsets are 64-bit signed integers in the database (SQLite's INTEGER,
PostgreSQL's BIGINT). A larger number in a URL reached the driver, which raised
``OverflowError``: a 500. Every route takes these types instead of a bare ``int``, so such a
number is refused with a 422 before any query runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

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
