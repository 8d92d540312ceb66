"""The declarative base shared by every domain's models, and the column types they reuse."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, LargeBinary, MetaData, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: An auto-incrementing 64-bit key that is SQLite's rowid alias on SQLite.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
#: Free-form JSON documents (event properties, traits), binary JSON on PostgreSQL.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")
#: An encrypted field as written by ``store.sealing`` (format in ``store.envelope``).
Sealed = LargeBinary()
#: A 32-byte HMAC-SHA256 blind index (``store.sealing.blind_index``).
BlindIndex = LargeBinary(32)


_NAIVE = "naive datetimes are not stored; attach a time zone"
#: How SQLAlchemy's SQLite ``DATETIME`` stores a value (``sqlalchemy.dialects.sqlite``).
_SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    SQLite has no time-zone type and SQLAlchemy returns naive values from it; this type
    refuses naive input and hands back aware UTC values everywhere, so comparisons behave
    the same on SQLite and PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(_NAIVE)
        return value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, format the UTC value directly: the same text SQLAlchemy's SQLite
        ``DATETIME`` writes (``YYYY-MM-DD HH:MM:SS.ffffff``, its own format string) at a
        fraction of its cost, which showed on every event ingested (two timestamps a row).
        A value already in UTC (what JSON's ``Z`` parses to) skips the conversion: converting
        from pydantic's own time zone type, then formatting an aware value, cost ~2 µs."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # The rows of one call share their received time, one datetime object: the last one
        # formatted is remembered (one tuple, swapped whole, so threads never see half).
        last: list[tuple[datetime | None, str | None]] = [(None, None)]

        def to_text(value: datetime | None) -> str | None:
            seen, text = last[0]
            if value is seen:
                return text
            if value is None:
                text = None
            else:
                offset = value.utcoffset()
                if offset is None:
                    raise ValueError(_NAIVE)
                utc = value.astimezone(UTC) if offset else value
                text = _SQLITE_DATETIME % (
                    utc.year,
                    utc.month,
                    utc.day,
                    utc.hour,
                    utc.minute,
                    utc.second,
                    utc.microsecond,
                )
            last[0] = (value, text)
            return text

        return to_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


#: Timestamps are always timezone-aware and stored in UTC.
Timestamp = UtcDateTime()


class Base(DeclarativeBase):
    """Base class of the main database's models (the keystore has its own, in ``keystore``)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: Timestamp}


def table_of(model: type[DeclarativeBase]) -> Table:
    """A model's Core table, for bulk ``executemany`` inserts.

    ORM bulk inserts start a new statement whenever the set of None-valued keys changes from
    one row to the next (they leave those columns to server defaults); Core inserts keep one
    statement for the whole batch.
    """
    return cast(Table, model.__table__)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC, as every stored timestamp is."""
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """A new time-ordered UUID (version 7, RFC 9562).

    Written by hand because the standard library gains ``uuid7`` only in Python 3.14; time
    ordering keeps primary-key inserts at the right end of the index, and ids are known before
    insert so that ciphertexts can be bound to their customer.
    """
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)
