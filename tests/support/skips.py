"""Counting the tests a run skipped for want of PostgreSQL or chromium (the closing line of
``tests/conftest.py``'s terminal summary)."""

from __future__ import annotations

import pytest

from support.chromium import CHROMIUM_SKIP_REASON
from support.postgres import PG_SKIP_REASON


def skipped_for_want_of(reports: list[pytest.TestReport]) -> dict[str, int]:
    """How many skipped tests waited for PostgreSQL, and how many for the browser."""
    counts = {"PostgreSQL": 0, "browser": 0}
    for report in reports:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if PG_SKIP_REASON in reason:
            counts["PostgreSQL"] += 1
        elif CHROMIUM_SKIP_REASON in reason or "playwright" in reason:
            counts["browser"] += 1
    return counts
