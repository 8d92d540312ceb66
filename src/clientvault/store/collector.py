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

#: Allocations (net of deallocations) between two collections of the young generation.
YOUNG_THRESHOLD = 20_000


def settle_after_startup() -> None:
    """Leave the objects made so far (start-up's, kept for the process's life) out of every
    later collection, and collect the young generation less often. Cycles made afterwards
    are still collected; call once, when the process has finished starting."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
