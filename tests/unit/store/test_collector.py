"""The collector settings of long-running processes (``store.collector``), checked in a
child interpreter: freezing is for the whole process, the test runner's included."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from clientvault.store.collector import MIDDLE_THRESHOLD, YOUNG_THRESHOLD, collecting_less

_CHILD = """
import gc, weakref
from clientvault.store.collector import YOUNG_THRESHOLD, settle_after_startup

class Node:
    pass

kept = [Node() for _ in range(1000)]
settle_after_startup()
assert gc.get_freeze_count() >= 1000, gc.get_freeze_count()
assert gc.get_threshold()[0] == YOUNG_THRESHOLD

# A cycle made afterwards is still found and freed by a collection.
first, second = Node(), Node()
first.other, second.other = second, first
alive = weakref.ref(first)
del first, second
gc.collect()
assert alive() is None
print("ok")
"""


def test_startup_objects_are_frozen_and_later_cycles_still_collected() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_collecting_less_raises_the_young_and_middle_thresholds_for_the_block_only() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, before[2])
        seen = []

        def failing_import() -> None:
            with collecting_less():
                seen.append(gc.get_threshold())
                raise RuntimeError("the import failed")

        with pytest.raises(RuntimeError):
            failing_import()
        assert seen == [(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, before[2])]
        assert gc.get_threshold() == (700, 10, before[2])
        gc.set_threshold(50_000, 5_000, before[2])
        with collecting_less():  # a process collecting even less already keeps its rate
            assert gc.get_threshold()[:2] == (50_000, 5_000)
    finally:
        gc.set_threshold(*before)
