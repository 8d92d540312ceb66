"""The event log, tracking sources, groups and the consumers' cursors (the commerce tables fed
from the log are ``commerce.models``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from clientvault.store.base import Base, BigIntId, BlindIndex, JsonDocument, new_id, utcnow


class Event(Base):
    """One tracking call (identify, track, page, screen, group, alias). Its id is the log
    position consumers keep their cursor on; ``message_id`` makes ingestion idempotent."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_customer_time", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200), index=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    anonymous_index: Mapped[bytes | None] = mapped_column(BlindIndex, index=True)
    user_index: Mapped[bytes | None] = mapped_column(BlindIndex)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    #: When we received it: what the event retention period counts from (ingest.holders).
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    source: Mapped[str | None] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)


class TrackingSource(Base):
    """A source of tracking calls (a website, an app, a server) and its write key's hash.

    Write keys are 32 random bytes, so a plain SHA-256 is enough to store them: unlike
    passwords they cannot be guessed, and the lookup must stay cheap on every request.
    """

    __tablename__ = "tracking_sources"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    write_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    #: The website origins (``https://shop.example.com``) whose pages may call with this
    #: write key; empty: any origin (``ingest.origins``).
    allowed_origins: Mapped[list[str]] = mapped_column(JsonDocument, default=list)


class Group(Base):
    """A group of customers named by ``group`` calls: an account, a company, a team.

    Independent of the identity graph: a group is not a person, its id is the business's own
    account id, global across sources (a website and a back office naming account ``acme``
    mean the same account, as a ``userId`` means the same user). Its traits are scrubbed like
    event properties and kept as JSON for segments (``traits.employees > 50``)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(255), unique=True)
    traits: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    #: When the call whose traits were applied last happened: an older call, replayed or
    #: late, only fills traits that are missing.
    traits_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class GroupMember(Base):
    """A customer's membership of a group, as ``group`` calls reported it."""

    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class ConsumerCursor(Base):
    """How far a consumer of the event log has read (the id of the last event handled)."""

    __tablename__ = "consumer_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigIntId, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ScrubCount(Base):
    """How many values of each kind of personal data were scrubbed from a source's events."""

    __tablename__ = "scrub_counts"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigIntId, default=0)


class ImportJob(Base):
    """A file import run in the background (``ingest.import_jobs``): the console's uploads
    and the API's ``?background=true`` ones. Counts grow as chunks commit; the uploaded file
    waits in the data directory until the job is done, the error report (row, line, reason —
    never values) stays beside it for download."""

    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # "customers" or "events"
    #: queued, running, done or failed (a running job whose heartbeat stopped was interrupted).
    status: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(200))
    #: The import's options: the column mapping and the delimiter (header names, no values).
    options: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    #: Written with every chunk's progress: a running job whose heartbeat is old was cut off.
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    customers_created: Mapped[int] = mapped_column(default=0)
    identifier_conflicts: Mapped[int] = mapped_column(default=0)
    blocked_identifiers: Mapped[int] = mapped_column(default=0)
    expiring: Mapped[int] = mapped_column(default=0)
    ignored_columns: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    #: Why a failed job failed (a sentence naming options or the database, never row values).
    error: Mapped[str | None] = mapped_column(String(500))
