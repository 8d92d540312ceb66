"""The ingest writer: a process of the server's own that stores prepared tracking calls.

A tracking call's work is in two parts (``ingest.tracking``): preparing it — parsing,
validating, normalising, blind indexes, scrubbing: CPU only — and storing it — erasure and
duplicate checks, stitching, the insert and the commit: the database, one writer at a time.
In one Python process both share one GIL. Measured on 2 cores (``bench/bench_ingest.py``),
the thread holding the write transaction spent ~24 % of its time waiting to take the GIL
back after each database call while request threads prepared other calls, and the server
used ~70 % of one core: neither the CPU nor the disk was the limit, the hand-overs were.

So ``serve`` stores tracking calls from a child process: the server prepares a call on its
event loop and sends it down a pipe (``store_async``; ``store`` for a thread); the writer
takes every call queued while it committed the last group, stores them in one transaction
(``store.group_commit``'s ``commit_together``: one failing call never undoes another's),
commits, and answers each call. The HTTP request is answered only then, so a 200 still
means stored.

Should the writer die, the calls waiting on it fail with ``Unavailable`` (503, which
Segment's SDKs retry; message ids make the retry idempotent) and the next call starts a new
writer. The writer stops when the server closes the pipe — also when the server is killed,
which closes it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import multiprocessing
import pickle
import queue
import signal
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from clientvault.errors import Unavailable
from clientvault.ingest.tracking import BatchResult, PreparedBatch, store_batches
from clientvault.settings import Settings
from clientvault.store.collector import settle_after_startup
from clientvault.store.context import Store, open_store
from clientvault.store.group_commit import Outcome, commit_together

#: How many calls one transaction of the writer takes at most.
MAX_GROUP = 32
#: Seconds a new writer may take to open the store before the server gives up on it.
START_TIMEOUT_S = 60.0

_READY = "ready"
#: A call as the writer receives it: its ticket, the prepared call, its GPC policy version.
_Call = tuple[int, PreparedBatch, str | None]
logger = logging.getLogger(__name__)


def _unavailable(message: str) -> Unavailable:
    return Unavailable(message, code="ingest_unavailable")


@dataclass
class _Child:
    """One writer process, its end of the pipe, and the calls it has not answered yet."""

    process: multiprocessing.process.BaseProcess
    connection: Connection
    waiting: dict[int, Future[BatchResult]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards ``waiting``
    gone: bool = False  # set (under ``lock``) once its pipe has closed


class IngestWriter:
    """Stores prepared tracking calls through a writer process, started on first need."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._send_lock = threading.Lock()  # one call at a time down the pipe
        self._tickets = itertools.count()
        self._child: _Child | None = None

    def start(self) -> None:
        """Start the writer now (rather than on the first call), failing if it cannot."""
        with self._send_lock:
            self._running()

    def store(self, batch: PreparedBatch, *, gpc_policy_version: str | None) -> BatchResult:
        """Store a prepared call (``ingest.tracking.store_batch``) and return its result once
        the writer's transaction holding it has committed.

        Raises what storing raised, or ``Unavailable`` if the writer stopped first."""
        return self._send(batch, gpc_policy_version).result()

    async def store_async(
        self, batch: PreparedBatch, *, gpc_policy_version: str | None
    ) -> BatchResult:
        """``store`` for a server's event loop: the call is sent at once, its answer awaited
        without holding a thread. Should a writer have to be started first (the last one
        stopped), that is done in a thread: it takes a second or more, and would stall every
        other request on the loop."""
        if self._live() is None:
            future = await asyncio.to_thread(self._send, batch, gpc_policy_version)
        else:
            future = self._send(batch, gpc_policy_version)
        return await asyncio.wrap_future(future)

    def _send(self, batch: PreparedBatch, gpc_policy_version: str | None) -> Future[BatchResult]:
        """Send a call to the writer, starting one if needed; its result, once answered."""
        future: Future[BatchResult] = Future()
        ticket = next(self._tickets)
        call = _dumps((ticket, batch, gpc_policy_version))  # before the lock: CPU work
        with self._send_lock:
            child = self._running()
            with child.lock:
                if child.gone:  # it went since ``_running`` looked: its reader is done
                    raise _unavailable("the ingest writer stopped; retry the call")
                child.waiting[ticket] = future
            # Should the writer have just gone, its reader fails the call.
            with contextlib.suppress(OSError):
                child.connection.send_bytes(call)
        return future

    @property
    def process_id(self) -> int | None:
        """The live writer process's id, if one is running (for operators and tests)."""
        child = self._child
        return child.process.pid if child is not None and not child.gone else None

    def waiting(self) -> int:
        """How many calls the writer has been sent and not yet answered."""
        child = self._child
        if child is None:
            return 0
        with child.lock:
            return len(child.waiting)

    def close(self) -> None:
        """Stop the writer once it has answered what it was sent."""
        with self._send_lock:
            child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(OSError):
            child.connection.send(None)
        child.process.join(timeout=30)
        if child.process.is_alive():
            child.process.kill()
            child.process.join()
        child.connection.close()

    def _live(self) -> _Child | None:
        """The writer, if one is running."""
        child = self._child
        if child is not None and not child.gone and child.process.is_alive():
            return child
        return None

    def _running(self) -> _Child:
        """The live writer, started if there is none (under ``_send_lock``)."""
        if (child := self._live()) is not None:
            return child
        context = multiprocessing.get_context("spawn")  # no inherited database connections
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_writer_main, args=(self._settings, theirs), name="clientvault-ingest-writer"
        )
        process.daemon = True
        process.start()
        theirs.close()
        answer: object = "the ingest writer did not start in time"
        try:
            if ours.poll(START_TIMEOUT_S):
                answer = ours.recv()
        except (EOFError, OSError):
            answer = "the ingest writer stopped while starting"
        if answer != _READY:
            process.kill()
            ours.close()
            raise _unavailable(str(answer))
        self._child = _Child(process=process, connection=ours)
        threading.Thread(
            target=_read_answers, args=(self._child,), name="ingest-answers", daemon=True
        ).start()
        return self._child


def _dumps(call: object) -> bytes:
    """A call, an answer or an error pickled for the other end of the pipe."""
    return pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)


def _read_answers(child: _Child) -> None:
    """Hand each answer from the writer to the call waiting for it; when the pipe closes,
    fail the calls still waiting."""
    try:
        while True:
            for ticket, result, error in child.connection.recv():
                with child.lock:
                    future = child.waiting.pop(ticket)
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)
    except (EOFError, OSError):
        pass
    with child.lock:
        child.gone = True
        stranded, child.waiting = list(child.waiting.values()), {}
    for future in stranded:
        future.set_exception(_unavailable("the ingest writer stopped; retry the call"))


# ---- the writer process ------------------------------------------------------------------------


def _writer_main(settings: Settings, connection: Connection) -> None:
    """The writer process: open the store, then store groups of calls until the pipe closes."""
    # Ctrl-C, or a service manager's SIGTERM, reaches the server's whole process group: the
    # server stops the writer itself, once its requests are answered, by closing the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(format="%(levelname)s:     ingest writer: %(message)s")
    try:
        store = open_store(settings)
    except Exception as exc:
        connection.send(f"the ingest writer could not open the store: {exc}")
        return
    # Each call unpickles into thousands of objects that live until its group is stored and
    # are then freed by reference counting: collections at the default rate kept scanning
    # them, and the modules' objects, for nothing (~6 % of the writer's time).
    settle_after_startup()
    connection.send(_READY)
    # Calls are received and unpickled by a thread of their own, while this one stores the
    # previous group: sqlite3 and psycopg release the GIL while the database works (and
    # during a commit's sync), so the next group is ready when the commit returns.
    received: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
    threading.Thread(
        target=_receive, args=(connection, received), name="ingest-receiver", daemon=True
    ).start()
    try:
        stopping = False
        while not stopping:
            calls, stopping = _next_group(received)
            if calls:
                connection.send_bytes(_dumps(_store_group(store, settings, calls)))
    except OSError:  # the server has gone
        pass
    finally:
        store.close()


def _receive(connection: Connection, received: queue.SimpleQueue[_Call | None]) -> None:
    """Hand each call from the server to the storing thread; ``None`` once there are no
    more (the server asked to stop, or went away)."""
    try:
        while (call := connection.recv()) is not None:
            received.put(call)
    except (EOFError, OSError):
        pass
    except Exception as exc:  # a call that does not load: stop; the server starts a new writer
        logger.error("the ingest writer could not read a call: %s", type(exc).__name__)
    received.put(None)


def _store_group(
    store: Store, settings: Settings, calls: list[_Call]
) -> list[tuple[int, BatchResult | None, BaseException | None]]:
    """Store calls in one transaction — those of one source together, as one
    (``store_batches``) — and each call's ticket with its result or its error. Should storing
    calls together fail, they are stored again one by one, so that only the failing call
    fails."""
    by_source: dict[str, list[int]] = {}
    for position, (_, batch, _) in enumerate(calls):
        by_source.setdefault(batch.source, []).append(position)
    answers: dict[int, tuple[BatchResult | None, BaseException | None]] = {}
    alone: list[int] = []
    together = list(by_source.values())
    for positions, outcome in zip(
        together, _store_sets(store, settings, calls, together), strict=True
    ):
        if outcome.error is None and outcome.result is not None:
            for position, result in zip(positions, outcome.result, strict=True):
                answers[position] = (result, None)
        elif len(positions) > 1:
            alone += positions
        else:
            answers[positions[0]] = (None, _portable(outcome.error))
    sets = [[position] for position in alone]
    for (position,), outcome in zip(sets, _store_sets(store, settings, calls, sets), strict=True):
        if outcome.error is None and outcome.result is not None:
            answers[position] = (outcome.result[0], None)
        else:
            answers[position] = (None, _portable(outcome.error))
    return [(ticket, *answers[position]) for position, (ticket, _, _) in enumerate(calls)]


def _store_sets(
    store: Store,
    settings: Settings,
    calls: list[_Call],
    sets: list[list[int]],
) -> list[Outcome[list[BatchResult]]]:
    """Store each set of calls as one (``store_batches``), all sets in one transaction."""
    return commit_together(
        store.sessions,
        [
            functools.partial(
                store_batches,
                store=store,
                calls=[calls[position][1:] for position in positions],
                identity=settings.identity,
            )
            for positions in sets
        ],
    )


def _next_group(received: queue.SimpleQueue[_Call | None]) -> tuple[list[_Call], bool]:
    """The calls to store together — the next one to arrive and those queued behind it —
    and whether to stop after them (the server asked, or went away)."""
    calls: list[_Call] = []
    call = received.get()
    while call is not None:
        calls.append(call)
        if len(calls) == MAX_GROUP:
            return calls, False
        try:
            call = received.get_nowait()
        except queue.Empty:
            return calls, False
    return calls, True


def _portable(error: BaseException | None) -> BaseException:
    """The error to send back to the server: itself, for the server to raise as if it had
    stored the call itself, if it survives pickling; else one naming its kind only (its
    message might carry values)."""
    if error is None:  # a work that neither returned nor raised: cannot happen
        return RuntimeError("the ingest writer lost a call's outcome")
    logger.error("the ingest writer failed to store a call: %s", type(error).__name__)
    try:
        pickle.loads(_dumps(error))  # noqa: S301 - our own bytes, to see that they load
    except Exception:
        return RuntimeError(f"the ingest writer failed to store a call ({type(error).__name__})")
    return error
