"""The ``tamper`` fixture of the audit chain's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from clientvault.store.context import Store
from support.audit_tampering import Tamperer, tampering


@pytest.fixture
def tamper(db: Store, tmp_path: Path) -> Iterator[Callable[[], Tamperer]]:
    """``tamper()``, called once the entries are written, gives a ``Tamperer``: a copy of the
    SQLite file, or PostgreSQL's owner in a transaction rolled back at teardown."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(tampering(db, tmp_path))
