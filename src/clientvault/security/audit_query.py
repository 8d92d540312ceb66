"""Reading the audit log for people: filters, system jobs' reveals grouped per run, and the
CSV an auditor takes away.

Filters (all optional, combined): the actor (a staff e-mail, resolved to the account's id,
or any actor id such as a job's name), the kind of actor (``user``: a person; ``system``: a
job), the action, a customer (entries whose target is that customer) and a date range (UTC
days, both ends included).

Why group: a matching job reveals thousands of profiles, one audit entry each, and drowned
people's actions (~96 % of a demo's log). With ``group_jobs`` the list leaves system jobs'
``pii.reveal`` entries out and ``job_reveal_runs`` sums them per *run*: entries of one job
with one reason, each batch appended at one time (``audit.appending_together``), batches
less than ``RUN_GAP`` apart. Nothing is hidden: each run links to its entries, and the
entries stay in the chain and in the CSV export.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, TypeVarTuple

from sqlalchemy import Select, and_, func, not_, select
from sqlalchemy.orm import Session

from clientvault.errors import InvalidInput
from clientvault.security import audit
from clientvault.security.models import AuditEntry, User
from clientvault.security.principal import Principal

ActorKind = Literal["user", "system"]
_Columns = TypeVarTuple("_Columns")
REVEAL = "pii.reveal"
#: Batches of one job's reveals closer than this belong to the same run.
RUN_GAP = timedelta(minutes=10)
#: At most this many appends are read to build the runs (the newest).
RUN_SCAN_LIMIT = 20_000
#: The CSV is handed out in chunks of about this many characters.
CHUNK_CHARACTERS = 64_000
CSV_COLUMNS = (
    "id",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "reason",
    "details",
    "previous_hash",
    "entry_hash",
)


@dataclass(frozen=True)
class AuditFilter:
    """What to show of the log; every field is optional."""

    actor: str | None = None
    actor_kind: ActorKind | None = None
    action: str | None = None
    customer_id: uuid.UUID | None = None
    since: date | None = None
    until: date | None = None
    #: Leave system jobs' reveals out of the list (see ``job_reveal_runs``).
    group_jobs: bool = False

    def details(self) -> dict[str, str]:
        """The filter as the audit entry of an export records it."""
        values = {
            "actor": self.actor,
            "actor_kind": self.actor_kind,
            "action": self.action,
            "customer": str(self.customer_id) if self.customer_id else None,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class RevealRun:
    """One run of a system job's reveals."""

    job: str
    reason: str | None
    started_at: datetime
    ended_at: datetime
    entries: int
    first_id: int
    last_id: int


def _actor_id(session: Session, actor: str) -> str:
    """A staff e-mail as its account id; anything else is taken as an actor id."""
    if "@" in actor:
        found = session.scalar(select(User.id).where(User.email == actor.strip().lower()))
        if found is None:
            raise InvalidInput("no staff account has this e-mail", details={"field": "actor"})
        return str(found)
    return actor.strip()


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def apply_filter(
    session: Session, query: Select[*_Columns], wanted: AuditFilter
) -> Select[*_Columns]:
    """``query`` over ``AuditEntry`` narrowed to the filter (``InvalidInput`` for a range
    that ends before it starts or an unknown staff e-mail)."""
    if wanted.since and wanted.until and wanted.until < wanted.since:
        raise InvalidInput("the range ends before it starts", details={"field": "until"})
    if wanted.actor:
        query = query.where(AuditEntry.actor_id == _actor_id(session, wanted.actor))
    if wanted.actor_kind:
        query = query.where(AuditEntry.actor_kind == wanted.actor_kind)
    if wanted.action:
        query = query.where(AuditEntry.action == wanted.action)
    if wanted.customer_id:
        query = query.where(
            AuditEntry.target_type == "customer", AuditEntry.target_id == str(wanted.customer_id)
        )
    if wanted.since:
        query = query.where(AuditEntry.occurred_at >= _start(wanted.since))
    if wanted.until:
        query = query.where(AuditEntry.occurred_at < _start(wanted.until + timedelta(days=1)))
    if wanted.group_jobs:
        query = query.where(
            not_(and_(AuditEntry.actor_kind == "system", AuditEntry.action == REVEAL))
        )
    return query


def job_reveal_runs(session: Session, wanted: AuditFilter, *, limit: int = 50) -> list[RevealRun]:
    """System jobs' reveals within the filter, summed per run, newest run first.

    One grouped read (per job, reason and append time), then consecutive appends of one job
    and reason closer than ``RUN_GAP`` are joined."""
    jobs_only = AuditFilter(
        actor=wanted.actor,
        actor_kind="system",
        action=REVEAL,
        customer_id=wanted.customer_id,
        since=wanted.since,
        until=wanted.until,
    )
    if wanted.actor_kind == "user" or wanted.action not in (None, REVEAL):
        return []
    appends = apply_filter(
        session,
        select(
            AuditEntry.actor_id,
            AuditEntry.reason,
            AuditEntry.occurred_at,
            func.count(),
            func.min(AuditEntry.id),
            func.max(AuditEntry.id),
        ),
        jobs_only,
    ).group_by(AuditEntry.actor_id, AuditEntry.reason, AuditEntry.occurred_at)
    rows = session.execute(
        appends.order_by(AuditEntry.occurred_at.desc()).limit(RUN_SCAN_LIMIT)
    ).all()
    runs: list[RevealRun] = []
    open_runs: dict[tuple[str, str | None], int] = {}  # (job, reason) -> index in runs
    for job, reason, at, count, first, last in rows:  # newest first
        index = open_runs.get((job, reason))
        if index is not None and runs[index].started_at - at <= RUN_GAP:
            run = runs[index]
            runs[index] = RevealRun(
                job,
                reason,
                at,
                run.ended_at,
                run.entries + count,
                min(first, run.first_id),
                max(last, run.last_id),
            )
            continue
        open_runs[(job, reason)] = len(runs)
        runs.append(RevealRun(job, reason, at, at, count, first, last))
    runs.sort(key=lambda run: run.ended_at, reverse=True)
    return runs[:limit]


@dataclass(frozen=True)
class EntryPage:
    """One page of entries within a filter, newest first, and the ids to page on from."""

    entries: list[AuditEntry]
    #: The newest id shown, when newer entries exist (the "newer" link's ``after``).
    newer_than: int | None
    #: The oldest id shown, when older entries exist (the "older" link's ``before``).
    older_than: int | None


def entries_page(
    session: Session,
    wanted: AuditFilter,
    *,
    limit: int,
    before: int | None = None,
    after: int | None = None,
) -> EntryPage:
    """The page of at most ``limit`` entries older than ``before`` (or, without it, newer
    than ``after``; with neither, the newest), newest first: the API's list and the
    console's page alike (``InvalidInput`` for a bad filter, as ``apply_filter``).

    One more entry than shown is read in the direction of travel to know whether the pager
    goes on; the other side is one indexed look-up."""
    query = apply_filter(session, select(AuditEntry), wanted)
    beyond = apply_filter(session, select(AuditEntry.id), wanted).limit(1)
    newer = older = None
    if after is not None and before is None:
        ascending = query.where(AuditEntry.id > after).order_by(AuditEntry.id)
        found = list(session.scalars(ascending.limit(limit + 1)))
        entries = found[:limit][::-1]
        if len(found) > limit:
            newer = entries[0].id
        if entries and session.scalar(beyond.where(AuditEntry.id < entries[-1].id)) is not None:
            older = entries[-1].id
    else:
        if before is not None:
            query = query.where(AuditEntry.id < before)
        found = list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)))
        entries = found[:limit]
        if len(found) > limit:
            older = entries[-1].id
        if entries and session.scalar(beyond.where(AuditEntry.id > entries[0].id)) is not None:
            newer = entries[0].id
    return EntryPage(entries=entries, newer_than=newer, older_than=older)


def actions(session: Session) -> list[str]:
    """Every action the log holds, alphabetically (the filter form's choices)."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


@dataclass(frozen=True)
class LogSummary:
    """How long the log is and its newest entry (``None`` for an empty log)."""

    entries: int
    newest_id: int | None
    newest_at: datetime | None


def log_summary(session: Session) -> LogSummary:
    """The number of entries and the newest one's id and time (``audit head`` prints them
    beside the head, so that the exported hash can be placed later)."""
    newest = session.execute(
        select(AuditEntry.id, AuditEntry.occurred_at).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    count = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    if newest is None:
        return LogSummary(entries=count, newest_id=None, newest_at=None)
    return LogSummary(entries=count, newest_id=newest.id, newest_at=newest.occurred_at)


def written_after(session: Session, entry_id: int) -> int | None:
    """The id of the entry that entry ``entry_id`` was written after (the one whose hash it
    names as previous), if both still exist: telling a reordered chain from a cut one."""
    entry = session.get(AuditEntry, entry_id)
    if entry is None:
        return None
    return session.scalar(select(AuditEntry.id).where(AuditEntry.entry_hash == entry.previous_hash))


def record_export(session: Session, wanted: AuditFilter, *, principal: Principal) -> None:
    """Audit an export of the log, with its filter (before the rows are read, so an export
    that fails half-way is on record too); a bad filter is refused first (``InvalidInput``)
    and nothing is recorded."""
    apply_filter(session, select(AuditEntry.id), wanted)
    audit.record(
        session,
        principal=principal,
        action="audit.exported",
        target_type="audit_log",
        details=wanted.details(),
    )


def csv_chunks(session: Session, wanted: AuditFilter) -> Iterator[str]:
    """The entries within the filter as CSV text in chunks, oldest first: every column,
    hashes included, so an auditor can check the chain themselves (``record_export`` first)."""
    query = apply_filter(session, select(AuditEntry), replace(wanted, group_jobs=False))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for entry in session.scalars(query.order_by(AuditEntry.id).execution_options(yield_per=1000)):
        writer.writerow(
            [
                entry.id,
                entry.occurred_at.astimezone(UTC).isoformat(),
                entry.actor_kind,
                entry.actor_id,
                entry.action,
                entry.target_type or "",
                entry.target_id or "",
                entry.reason or "",
                json.dumps(entry.details, sort_keys=True, ensure_ascii=False, default=str),
                entry.previous_hash,
                entry.entry_hash,
            ]
        )
        if buffer.tell() > CHUNK_CHARACTERS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
