"""The collector settings of long-running processes (``store.collector``), checked in a
child interpreter: freezing is for the whole process, the test runner's included."""

from __future__ import annotations

import subprocess
import sys

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
