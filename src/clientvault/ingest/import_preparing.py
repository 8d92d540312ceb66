"""Preparing an import's chunks in a helper process while this one stores the chunks before.

An import's rows go through the tracking pipeline in two parts (``ingest.tracking``):
preparing — a CSV row made into its message (``Shape``), parsing, validating and normalising
identifiers (phone numbers above all), blind indexes, scrubbing: CPU only, about half of a
row's time — and storing — erasure and duplicate checks, stitching, data keys, sealing,
inserts: the database, one transaction a chunk. One Python process does one at a time, so a
long import prepares its next chunks in a helper process (the ingest writer's reasoning,
``ingest.writer``) while it stores the current one: on two cores, about twice the rows a
second. (Sealing new customers' rows there too, under keys made there, was tried: it only
moved the bottleneck to the helper, and the bigger hand-back cost more than it saved.)

The helper gets the index key only (blind indexes and tombstone digests need it; it never
wraps or unwraps a data key) and the databases' URLs, whose dialects shape the rows it
makes: it never connects to either. Short imports (``HELPER_AFTER_ROWS``) never start it,
since starting a Python process costs more than preparing a few chunks.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from clientvault.ingest.import_mapping import RowProblem
from clientvault.ingest.tracking import PreparedBatch, Rejection, prepare_batch
from clientvault.store.collector import settle_after_startup
from clientvault.store.context import Store
from clientvault.store.group_commit import GroupCommitter
from clientvault.store.keyfile import KeyMaterial
from clientvault.store.keystore import Keystore

#: Rows prepared here before a helper process takes over (a short import never starts one).
HELPER_AFTER_ROWS = 4_000
#: The store of the helper process: the index key and the dialects, no connection.
_HELPER_STORE: Store | None = None


def _start_helper(database_url: str, keystore_url: str, index_key: bytes) -> None:
    global _HELPER_STORE
    engine = create_engine(database_url)  # never connected: preparing uses its dialect only
    sessions = sessionmaker(engine)
    material = KeyMaterial(keks={}, current_kek=0, index_key=index_key)
    _HELPER_STORE = Store(
        engine=engine,
        sessions=sessions,
        read_sessions=sessions,
        keystore=Keystore(create_engine(keystore_url), material),
        group_commit=GroupCommitter(sessions),
    )
    settle_after_startup()  # the helper lives for one import: its chunks are freed by refcount


#: Makes one row of a file into its message (raises ``RowProblem``): given the store, whose
#: index key derives message ids. Picklable, to run in the helper process.
Shape = Callable[[Store, Any], object]


def prepare_chunk(
    store: Store, rows: Sequence[Any], options: dict[str, Any], shape: Shape | None
) -> PreparedBatch:
    """A chunk's rows shaped into messages (``shape``; None: they are messages already) and
    prepared (``prepare_batch`` with ``options``). A row that cannot be shaped is rejected
    with its reason; indexes are the rows'."""
    if shape is None:
        return prepare_batch(store, messages=rows, **options)
    messages: list[object] = []
    positions: list[int] = []
    refused: list[Rejection] = []
    for index, row in enumerate(rows):
        try:
            messages.append(shape(store, row))
        except RowProblem as problem:
            refused.append(Rejection(index=index, reason=problem.reason))
            continue
        positions.append(index)
    batch = prepare_batch(store, messages=messages, **options)
    for item in batch.items:
        item.index = positions[item.index]
    rejected = [Rejection(positions[r.index], r.reason) for r in batch.rejected] + refused
    batch.rejected = sorted(rejected, key=lambda rejection: rejection.index)
    return batch


def _prepare_in_helper(
    rows: Sequence[Any], options: dict[str, Any], shape: Shape | None
) -> PreparedBatch:
    assert _HELPER_STORE is not None, "the helper process was not started"
    return prepare_chunk(_HELPER_STORE, rows, options, shape)


class Preparer:
    """Prepares an import's chunks: here until ``HELPER_AFTER_ROWS`` rows were, then in a
    helper process (when the machine has a second core), each as a future."""

    def __init__(
        self,
        store: Store,
        *,
        source: str,
        default_region: str,
        url_parameters: Sequence[str],
        shape: Shape | None = None,
    ) -> None:
        self._store = store
        self._shape = shape
        self._options: dict[str, Any] = {
            "source": source,
            "default_region": default_region,
            "implied_type": None,
            "url_parameters": list(url_parameters),
        }
        self._submitted = 0
        self._helper: ProcessPoolExecutor | None = None
        self._use_helper = (os.cpu_count() or 1) > 1

    def submit(self, rows: list[Any]) -> Future[PreparedBatch]:
        """The prepared chunk, to come (``result()`` raises what preparing raised)."""
        ahead, self._submitted = self._submitted, self._submitted + len(rows)
        if self._use_helper and ahead >= HELPER_AFTER_ROWS:
            return self._started().submit(_prepare_in_helper, rows, self._options, self._shape)
        done: Future[PreparedBatch] = Future()
        try:
            done.set_result(prepare_chunk(self._store, rows, self._options, self._shape))
        except Exception as exc:  # handed over as the helper's would be, on result()
            done.set_exception(exc)
        return done

    def _started(self) -> ProcessPoolExecutor:
        if self._helper is None:
            self._helper = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_helper,
                initargs=(
                    self._store.engine.url.render_as_string(hide_password=False),
                    self._store.keystore.engine.url.render_as_string(hide_password=False),
                    self._store.keystore.material.index_key,
                ),
            )
        return self._helper

    def close(self) -> None:
        """Stop the helper process, if one was started (chunks not stored are dropped)."""
        if self._helper is not None:
            self._helper.shutdown(wait=True, cancel_futures=True)
            self._helper = None

    def __enter__(self) -> Preparer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
