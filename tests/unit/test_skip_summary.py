"""The run's closing line counts the tests skipped for want of PostgreSQL or chromium."""

from __future__ import annotations

import pytest

from support.chromium import CHROMIUM_SKIP_REASON
from support.postgres import PG_SKIP_REASON, answers
from support.skips import skipped_for_want_of


def _skipped(reason: str) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid="t.py::test",
        location=("t.py", 1, "test"),
        keywords={},
        outcome="skipped",
        longrepr=("t.py", 1, f"Skipped: {reason}"),
        when="setup",
    )


def test_skips_are_counted_by_what_they_waited_for() -> None:
    reports = [
        _skipped(PG_SKIP_REASON),
        _skipped(PG_SKIP_REASON),
        _skipped(f"/usr/bin/chromium is not installed: {CHROMIUM_SKIP_REASON}"),
        _skipped("pg_dump is not installed"),
    ]
    assert skipped_for_want_of(reports) == {"PostgreSQL": 2, "browser": 1}


def test_a_server_that_does_not_answer_is_not_taken_for_postgresql() -> None:
    from support.serving import free_port

    assert not answers(f"postgresql://postgres@127.0.0.1:{free_port()}/test", timeout_s=1)
