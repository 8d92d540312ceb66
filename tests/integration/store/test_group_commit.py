"""Group commit: overlapping units share one transaction, yet each unit succeeds or fails alone."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.ingest.models import ScrubCount
from clientvault.store.context import Store
from clientvault.store.engine import make_session_factory
from clientvault.store.group_commit import GroupCommitter


def _add(kind: str) -> Callable[[Session], str]:
    """Work that adds one row and returns a token naming the transaction it ran in."""

    def work(session: Session) -> str:
        session.execute(insert(ScrubCount).values(source="test", kind=kind, count=1))
        return str(session.info.setdefault("transaction", uuid.uuid4()))

    return work


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the threads never got there"
        time.sleep(0.005)


def _stored(store: Store) -> set[str]:
    with store.read_sessions() as session:
        return set(session.scalars(select(ScrubCount.kind)))


def test_units_that_arrive_during_a_commit_share_the_next_one(db: Store) -> None:
    committer = GroupCommitter(db.sessions)
    release = threading.Event()
    results: dict[str, object] = {}

    def slow_first(session: Session) -> str:
        release.wait(10)
        return _add("first")(session)

    def call(name: str, work: Callable[[Session], str]) -> None:
        try:
            results[name] = committer.run(work)
        except InvalidInput as exc:
            results[name] = exc

    def failing(session: Session) -> str:
        _add("failed")(session)
        raise InvalidInput("refused")

    leader = threading.Thread(target=call, args=("first", slow_first))
    leader.start()
    _wait_for(lambda: committer._leading and not committer._pending)
    others = [threading.Thread(target=call, args=(k, _add(k))) for k in ("a", "b", "c")]
    others.append(threading.Thread(target=call, args=("failed", failing)))
    for thread in others:
        thread.start()
    _wait_for(lambda: len(committer._pending) == 4)
    assert _stored(db) == set()  # nothing visible before its commit
    release.set()
    for thread in (leader, *others):
        thread.join(10)

    assert _stored(db) == {"first", "a", "b", "c"}  # the failed unit's row was rolled back
    assert isinstance(results["failed"], InvalidInput)
    # The three that queued during the first commit ran in one session, apart from the first.
    assert results["a"] == results["b"] == results["c"] != results["first"]


def test_a_quiet_committer_commits_each_unit_alone(db: Store) -> None:
    committer = GroupCommitter(db.sessions)
    first, second = committer.run(_add("one")), committer.run(_add("two"))
    assert _stored(db) == {"one", "two"}
    assert first != second


def test_a_units_database_error_reaches_its_caller_alone(db: Store) -> None:
    committer = GroupCommitter(db.sessions)
    committer.run(_add("taken"))
    with pytest.raises(IntegrityError):
        committer.run(_add("taken"))
    assert committer.run(_add("next"))
    assert _stored(db) == {"taken", "next"}


def test_a_failed_commit_fails_its_units_and_keeps_nothing(db: Store) -> None:
    sessions = make_session_factory(db.engine)

    @event.listens_for(sessions, "before_commit")
    def _refuse(session: Session) -> None:
        raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="disk is full"):
        GroupCommitter(sessions).run(_add("lost"))
    assert _stored(db) == set()


def test_many_threads_each_get_their_own_answer_and_the_lead_passes_on(db: Store) -> None:
    # More units than a group holds, from threads that keep arriving: every unit is
    # committed once and answered with its own result, and the lead is free at the end.
    committer = GroupCommitter(db.sessions, max_group=3)
    kinds = [f"k{n:02d}" for n in range(40)]

    def unit(kind: str) -> Callable[[Session], str]:
        def work(session: Session) -> str:
            _add(kind)(session)
            if kind.endswith("7"):
                raise InvalidInput(kind)
            return kind

        return work

    def call(kind: str) -> object:
        try:
            return committer.run(unit(kind))
        except InvalidInput as exc:
            return exc.message

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, kinds))
    assert answers == kinds  # each thread got its own unit's result, or its own error
    assert _stored(db) == {k for k in kinds if not k.endswith("7")}
    assert not committer._leading
    assert not committer._pending
