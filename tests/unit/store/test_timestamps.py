"""UTC timestamps: SQLite gets exactly the text SQLAlchemy's own DATETIME would write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from clientvault.store.base import UtcDateTime

_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_MOMENTS = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=_OFFSETS
)


@given(_MOMENTS)
def test_sqlite_text_is_what_sqlalchemy_writes_for_the_utc_value(moment: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UtcDateTime().bind_processor(dialect)
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    assert theirs is not None
    assert ours(moment) == theirs(moment.astimezone(UTC).replace(tzinfo=None))


def test_naive_values_are_refused_and_none_passes() -> None:
    process = UtcDateTime().bind_processor(sqlite.dialect())
    assert process is not None
    assert process(None) is None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 1, 1))


def test_other_databases_keep_aware_utc_values() -> None:
    moment = datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    process = UtcDateTime().bind_processor(postgresql.dialect())
    bound = process(moment) if process is not None else moment
    assert bound == moment
    assert UtcDateTime().process_bind_param(moment, postgresql.dialect()).tzinfo is UTC  # type: ignore[union-attr]


@given(st.lists(_MOMENTS, min_size=1, max_size=5), st.data())
def test_one_processor_formats_each_value_of_a_sequence_as_its_own(
    moments: list[datetime], data: st.DataObject
) -> None:
    """The processor remembers the last value it formatted (a call's rows share one received
    time): repeats of the same objects and changes between them come out right."""
    dialect = sqlite.dialect()
    ours = UtcDateTime().bind_processor(dialect)
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    assert theirs is not None
    sequence = data.draw(st.lists(st.sampled_from(moments), min_size=1, max_size=12))
    expected = [theirs(m.astimezone(UTC).replace(tzinfo=None)) for m in sequence]
    assert [ours(m) for m in sequence] == expected
