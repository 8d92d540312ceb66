"""Garbage-collector settings for clientvault's long-running processes.

CPython's cyclic collector runs its young generation every 700 allocations and, every so
often, walks every object the process holds. A server holds hundreds of thousands of objects
from start-up (modules, models, schemas, routes) that live for as long as it does, and each
tracking call allocates thousands of short-lived ones that reference counting frees anyway:
those walks were ~6 % of the ingest writer's time and 10-15 % of the HTTP server's CPU per
event (``bench/bench_ingest.py``), and a full walk is a pause of tens of milliseconds in the
middle of whatever request is running.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations (net of deallocations) between two collections of the young generation.
YOUNG_THRESHOLD = 20_000
#: Young collections between two of the middle generation within ``collecting_less``.
MIDDLE_THRESHOLD = 1_000


def settle_after_startup() -> None:
    """Leave the objects made so far (start-up's, kept for the process's life) out of every
    later collection, and collect the young generation less often. Cycles made afterwards
    are still collected; call once, when the process has finished starting."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


@contextmanager
def collecting_less() -> Iterator[None]:
    """Collect the young generation at most every ``YOUNG_THRESHOLD`` allocations within the
    block (e.g. a bulk import in a CLI process that never settled), and the middle one every
    ``MIDDLE_THRESHOLD`` young collections, then as before: a bulk job's rows are freed by
    reference counting, and the collections walked them for nothing. The young collections
    were ~10 % of a 1M-row import's writing process (perf). Then the middle ones, every 10
    young ones by default, walked the chunk being stored each time (everything that outlived
    a young collection): 1.2 s of the 2.3 s the collector took for 100k rows against 900k
    profiles, against 0.66 s in all with this setting (``gc.callbacks``). Young cycles are
    still collected; what outlived a young collection waits longer for a middle one."""
    young, older, oldest = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), max(older, MIDDLE_THRESHOLD), oldest)
    try:
        yield
    finally:
        gc.set_threshold(young, older, oldest)
