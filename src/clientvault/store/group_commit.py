"""Group commit: concurrent units of write work share one transaction and one durable commit.

A tracking call may be acknowledged only once its events are durably stored, so every call
pays for a commit — an fsync on SQLite (``synchronous=FULL``), a WAL flush on PostgreSQL — and,
on SQLite, for waiting its turn at the single write lock. Under load most of a call's time
went there. Here the calls that arrive while one commit is in progress queue up, and the next
thread to take the lead runs all of them in one transaction, commits once, and only then are
they all answered. A unit that raises is answered with its error and the others run again
without it (one unit's failure never undoes another's work).
Nobody's acknowledgement comes before their own data is committed; a quiet server commits
every unit alone, exactly as before.

Databases do this for concurrent transactions on their own (PostgreSQL's ``commit_delay``),
but only when each call has its own transaction open at the same time; SQLite allows one
writer, so the grouping has to happen before the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """What one unit of work came to: its result, or the error it (or the commit) raised."""

    result: T | None = None
    error: BaseException | None = None


def commit_together(
    sessions: sessionmaker[Session], works: Sequence[Callable[[Session], T]]
) -> list[Outcome[T]]:
    """Run ``works`` in one transaction and commit it once; one outcome per work, in order.

    A work that raises is given its error and the others run again without it (one unit's
    failure never undoes another's work); if the commit itself fails, every work not
    already failed gets the commit's error. Only a ``BaseException`` that is not an
    ``Exception`` (an interrupt) propagates."""
    outcomes: list[Outcome[T]] = [Outcome() for _ in works]
    remaining = list(range(len(works)))  # none: no transaction at all
    try:
        while remaining:
            remaining = _attempt(sessions, works, outcomes, remaining)
    except Exception as exc:
        for outcome in outcomes:
            if outcome.error is None:
                outcome.error, outcome.result = exc, None
    return outcomes


def _attempt(
    sessions: sessionmaker[Session],
    works: Sequence[Callable[[Session], T]],
    outcomes: list[Outcome[T]],
    positions: list[int],
) -> list[int]:
    """Run the works at ``positions`` in one transaction and commit it. Should one raise,
    roll everything back, give that work its error and return the other positions, to be
    run again without it.

    No savepoint per work: works almost never fail, and a savepoint costs two round trips
    on PostgreSQL and a statement journal on SQLite for every work of every group."""
    with sessions() as session:
        session.begin()
        for order, position in enumerate(positions):
            try:
                outcomes[position].result = works[position](session)
            except Exception as exc:  # handed back to that work's caller
                session.rollback()
                outcomes[position].error = exc
                return positions[:order] + positions[order + 1 :]
        session.commit()
    return []


@dataclass
class _Unit(Generic[T]):
    work: Callable[[Session], T]
    outcome: Outcome[T] = field(default_factory=Outcome)
    done: bool = False
    #: Set when the unit is done, or when its thread is handed the lead.
    woken: threading.Event = field(default_factory=threading.Event)


class GroupCommitter:
    """Runs write work from many threads, several units per transaction when they overlap."""

    def __init__(self, sessions: sessionmaker[Session], *, max_group: int = 32) -> None:
        self._sessions = sessions
        self._max_group = max_group
        self._pending: list[_Unit[Any]] = []
        self._queue_lock = threading.Lock()
        self._leading = False  # some thread is committing a group (under _queue_lock)

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a transaction and return its result once that committed.

        Raises what ``work`` raised (the other units' work kept), or the commit's error for
        every unit of a group whose commit failed.
        """
        unit: _Unit[T] = _Unit(work)
        with self._queue_lock:
            self._pending.append(unit)
            lead, self._leading = not self._leading, True
        if not lead:
            # Each waiting thread is woken once, by name: when its unit is done, or to lead.
            # (Waiters queued on one lock had to take it in turn only to find their unit done,
            # each hand-over waiting for the GIL, while the next group waited for a leader.)
            unit.woken.wait()
            lead = not unit.done
        if lead:
            try:
                while not unit.done:  # commit what is queued, ours included or not
                    with self._queue_lock:
                        group = self._pending[: self._max_group]
                        del self._pending[: self._max_group]
                    self._commit(group)
            finally:
                self._hand_over()
        if unit.outcome.error is not None:
            raise unit.outcome.error
        return unit.outcome.result  # type: ignore[return-value]

    def _hand_over(self) -> None:
        """Pass the lead to the oldest waiting unit's thread, or give it up if none waits."""
        with self._queue_lock:
            if self._pending:
                self._pending[0].woken.set()
            else:
                self._leading = False

    def _commit(self, group: list[_Unit[Any]]) -> None:
        try:
            outcomes = commit_together(self._sessions, [unit.work for unit in group])
        except BaseException as exc:  # an interrupt: every unit hears of it, then it goes on
            outcomes = [Outcome(error=exc) for _ in group]
            raise
        finally:
            for unit, outcome in zip(group, outcomes, strict=True):
                unit.outcome = outcome
                unit.done = True
                unit.woken.set()
