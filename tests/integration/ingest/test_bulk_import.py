"""Bulk import of customers (CSV) and events (JSON lines) through the tracking pipeline."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, func, select, text
from sqlalchemy.exc import DataError, OperationalError

from clientvault.errors import InvalidInput
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.identity.normalise import normalise_phone
from clientvault.ingest import bulk_import
from clientvault.ingest.bulk_import import (
    ImportFailed,
    ImportOptionsError,
    ImportSummary,
    import_customers,
    import_events,
)
from clientvault.ingest.import_mapping import RowProblem, resolve_mapping, row_message
from clientvault.ingest.import_reading import LineReader, read_csv, read_jsonl
from clientvault.ingest.models import Event
from clientvault.ingest.traits import InvalidTraits, profile_from_traits
from clientvault.store.context import Store
from clientvault.store.statistics import FIRST_REFRESH_ROWS

HEADER = "id,email,first_name,last_name,phone,city,country\n"


def _customers(db: Store, data: bytes | str, **options: Any) -> ImportSummary:
    raw = data.encode() if isinstance(data, str) else data
    return import_customers(db, stream=io.BytesIO(raw), default_region="FR", **options)


def _events(db: Store, data: bytes | str, **options: Any) -> ImportSummary:
    raw = data.encode() if isinstance(data, str) else data
    return import_events(db, stream=io.BytesIO(raw), default_region="FR", **options)


def _count(db: Store, model: type[Any]) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _counts(db: Store) -> tuple[int, int, int]:
    return _count(db, Customer), _count(db, Event), _count(db, CustomerIdentity)


def _rejections(summary: ImportSummary) -> list[tuple[int, int]]:
    return [(r.row, r.line) for r in summary.rejections]


def test_good_rows_land_and_bad_rows_are_reported_with_their_row_and_line(
    db: Store, tmp_path: Path
) -> None:
    data = (
        HEADER
        + "u-1,ann@example.com,Ann,Lee,0612345678,Paris,FR\n"  # row 1, line 2
        + "u-2,not-an-address,Bob,Ray,,Lyon,FR\n"  # row 2: bad e-mail
        + "u-3,cy@example.com,Cy\n"  # row 3: 3 fields
        + "\n"  # blank: not a row
        + 'u-4,dee@example.com,"De\nNise",Roy,,Nice,France\n'  # row 4, lines 6-7
        + ",,,,,,\n"  # empty fields only: not a row
        + "u-5,eve@example.com,Eve,Kay,,Brest,Narnia\n"  # row 5, line 9: unknown country
        + ",,Fay,Orr,,Metz,FR\n"  # row 6, line 10: no identifier
    )
    report = tmp_path / "report.csv"
    summary = _customers(db, data, error_report=report)

    assert (summary.rows, summary.accepted, summary.rejected) == (6, 2, 4)
    assert summary.customers_created == 2
    assert _rejections(summary) == [(2, 3), (3, 4), (5, 9), (6, 10)]
    reasons = [r.reason for r in summary.rejections]
    assert reasons[0].startswith("traits.email: invalid e-mail address")
    assert reasons[1] == "expected 7 fields, found 3"
    assert "unknown country" in reasons[2]
    assert reasons[3] == "no identifier: userId, email and phone are empty"
    with report.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["row", "line", "reason"]
    assert [(int(r[0]), int(r[1])) for r in rows[1:]] == [(2, 3), (3, 4), (5, 9), (6, 10)]
    assert "not-an-address" not in report.read_text()  # reasons never echo values
    # Nothing else was written for the refused rows.
    assert _counts(db) == (2, 2, 5)  # user_id x2, email x2, phone x1
    with db.sessions() as session:
        cities = sorted(session.scalars(select(Customer.city)))
        assert cities == ["Nice", "Paris"]
        assert session.scalar(select(Customer.country).where(Customer.city == "Nice")) == "FR"


def test_running_the_same_file_again_stores_nothing_new(db: Store) -> None:
    data = HEADER + "".join(f"u-{i},person{i}@example.com,P{i},Q{i},,Paris,FR\n" for i in range(30))
    first = _customers(db, data, chunk_rows=7)
    before = _counts(db)
    again = _customers(db, data, chunk_rows=7)

    assert (first.accepted, first.customers_created) == (30, 30)
    assert (again.accepted, again.duplicates, again.customers_created) == (0, 30, 0)
    assert _counts(db) == before
    assert not again.imported_nothing


def test_rows_without_a_user_id_are_matched_on_their_e_mail_when_re_imported(db: Store) -> None:
    _customers(db, "email,city\nann@example.com,Paris\n")
    updated = _customers(db, "email,city\nANN@example.com,Lyon\n")

    assert (updated.accepted, updated.customers_created) == (1, 0)
    with db.sessions() as session:
        assert list(session.scalars(select(Customer.city))) == ["Lyon"]
        assert session.scalar(select(func.count()).select_from(Customer)) == 1


def test_mapping_names_targets_for_other_headers_and_fills_the_address(db: Store) -> None:
    data = (
        "Réf;E-mail;Prénom;Rue;CP;Ville;Pays;Offre\n"
        "c-9;zoe@example.com;Zoé;1 rue A;69003;Lyon;France;pro\n"
    )
    summary = _customers(
        db,
        data,
        mapping={
            "userId": "Réf",
            "first_name": "Prénom",
            "street": "Rue",
            "postal_code": "CP",
            "city": "Ville",
            "country": "Pays",
            "traits.plan": "Offre",
        },
    )

    assert summary.accepted == 1, summary.rejections
    assert summary.ignored_columns == ()  # E-mail maps to email by default
    with db.sessions() as session:
        customer = session.scalars(select(Customer)).one()
        assert (customer.city, customer.country, customer.postal_prefix) == ("Lyon", "FR", "69")
        assert customer.traits == {"plan": "pro"}
        assert customer.street_address_sealed is not None
        assert customer.email_index == db.index("email", "zoe@example.com")


def test_timestamp_and_full_name_columns(db: Store) -> None:
    data = (
        "user_id,name,timestamp\n"
        "u-1,Ann Lee,2021-03-04T05:06:07+01:00\n"
        "u-2,Bob Ray,2021-03-04 05:06:07\n"  # no time zone
    )
    summary = _customers(db, data)
    assert (summary.accepted, _rejections(summary)) == (1, [(2, 3)])
    assert "time zone" in summary.rejections[0].reason
    with db.sessions() as session:
        event = session.scalars(select(Event)).one()
        customer = session.scalars(select(Customer)).one()
    assert event.occurred_at.replace(tzinfo=None).isoformat().startswith("2021-03-04T0")
    assert customer.first_name_sealed is not None
    assert customer.last_name_sealed is not None


@pytest.mark.parametrize(
    ("header", "mapping", "message"),
    [
        ("email\n", {"mail_server": "email"}, "unknown target 'mail_server'"),
        ("email\n", {"firstName": "Prénom"}, "the column 'Prénom' (mapped to 'firstName')"),
        ("email,E-mail\n", None, "the columns 'email' and 'E-mail' both map to 'email'"),
        ("city,country\n", None, "no column is mapped to an identifier"),
        ("email,Notes\n", {"traits.Email": "Notes"}, "'traits.Email' is a reserved trait"),
        ("email,a,a\n", {"traits.x": "a"}, "has the column 'a' twice"),
    ],
)
def test_a_wrong_mapping_is_refused_before_anything_is_imported(
    db: Store, tmp_path: Path, header: str, mapping: dict[str, str] | None, message: str
) -> None:
    report = tmp_path / "report.csv"
    data = header + "ann@example.com,x,y\n"
    with pytest.raises(ImportOptionsError, match=re.escape(message)):
        _customers(db, data, mapping=mapping, error_report=report)
    assert _counts(db) == (0, 0, 0)
    assert not report.exists()


def test_a_utf8_byte_order_mark_is_accepted(db: Store) -> None:
    summary = _customers(db, b"\xef\xbb\xbfemail,city\r\nann@example.com,Paris\r\n")
    assert (summary.accepted, summary.ignored_columns) == (1, ())


def test_lines_that_are_not_utf8_are_reported_and_the_rest_lands(db: Store) -> None:
    data = (
        b"email,last_name\n"
        b"ann@example.com,Lee\n"
        b"bob@example.com,M\xfcller\n"  # Latin-1
        b"cy@example.com,Orr\n"
    )
    summary = _customers(db, data)
    assert (summary.accepted, _rejections(summary)) == (2, [(2, 3)])
    assert summary.rejections[0].reason == "not valid UTF-8"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"email,city\n", "a header but no data rows"),
        (b"email,city\n\n,\n", "a header but no data rows"),
        ("email,city\nann@example.com,Paris\n".encode("utf-16"), "the file is UTF-16"),
        (b"email,na\xefve\nann@example.com,x\n", "header line is not valid UTF-8"),
    ],
)
def test_files_without_importable_rows_are_a_clear_error(
    db: Store, data: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        _customers(db, data)
    assert _counts(db) == (0, 0, 0)


def test_malformed_csv_records_are_reported_and_reading_carries_on(db: Store) -> None:
    data = (
        "email,city\n"
        'ann@example.com,"Pa"ris\n'  # row 1: text after a closing quote
        "bob@example.com,Lyon\n"  # row 2
        "cy@example.com,Nice,extra\n"  # row 3: 3 fields
        "dee@example.com,Metz\n"  # row 4
    )
    summary = _customers(db, data)
    assert summary.accepted == 2
    assert _rejections(summary) == [(1, 2), (3, 4)]
    assert summary.rejections[0].reason.startswith("malformed CSV")


def test_jsonl_events_land_and_a_bad_line_is_reported(db: Store, tmp_path: Path) -> None:
    data = (
        '{"type": "identify", "userId": "u-1", "traits": {"email": "ann@example.com"}}\n'
        '{"type": "track", "userId": "u-1", "event": "Order Completed", '
        '"properties": {"order_id": "A-1", "total": 20}}\n'
        "{not json\n"
        "\n"
        '{"type": "teleport", "userId": "u-1"}\n'
        '["not", "an", "object"]\n'
        '{"type": "page", "anonymousId": "a-1", "name": "Home", "messageId": "given-1"}\n'
    )
    report = tmp_path / "events.errors.csv"
    summary = _events(db, data, error_report=report)

    assert (summary.rows, summary.accepted, summary.customers_created) == (6, 3, 1)
    assert _rejections(summary) == [(3, 3), (4, 5), (5, 6)]
    assert summary.rejections[0].reason == "not valid JSON"
    assert "unknown or missing message type" in summary.rejections[1].reason
    assert len(report.read_text().splitlines()) == 4
    with db.sessions() as session:
        ids = sorted(session.scalars(select(Event.message_id)))
    assert "given-1" in ids
    assert all(i == "given-1" or i.startswith("import-") for i in ids)

    again = _events(db, data)
    assert (again.accepted, again.duplicates) == (0, 3)
    assert _count(db, Event) == 3


def test_jsonl_lines_nested_too_deep_are_refused_alone(db: Store) -> None:
    deep = "[" * 40 + "]" * 40
    beyond_the_parser = "[" * 3000 + "]" * 3000
    track = '{"type":"track","userId":"u","event":"E","properties":{"x":NESTED}}'
    lines = [
        '{"type":"track","userId":"u","event":"A","messageId":"a"}',
        track.replace("NESTED", deep),
        track.replace("NESTED", beyond_the_parser),
        '{"type":"track","userId":"u","event":"D","messageId":"d"}',
    ]
    summary = _events(db, "\n".join(lines) + "\n")
    assert (summary.accepted, summary.rejected) == (2, 2)
    assert _rejections(summary) == [(2, 2), (3, 3)]
    assert all("32 levels" in r.reason for r in summary.rejections)


def test_a_username_column_is_sealed_not_kept_among_the_traits(db: Store) -> None:
    data = "id,email,username,plan\nu-1,ann@example.com,ann_lee_77,gold\n"
    summary = _customers(db, data, mapping={"traits.plan": "plan"})
    assert summary.accepted == 1
    with db.sessions() as session:
        [customer] = session.scalars(select(Customer)).all()
        events = list(session.scalars(select(Event.properties)))
    assert customer.traits == {"plan": "gold"}
    assert customer.username_sealed is not None
    assert b"ann_lee_77" not in customer.username_sealed
    assert "ann_lee_77" not in repr(events)


def test_identifiers_are_sealed_and_never_stored_in_the_clear(db: Store) -> None:
    fake = Faker("fr_FR")
    fake.seed_instance(11)
    people = [
        {
            "email": f"{fake.user_name()}.{i}@example.com",
            "first_name": f"{fake.first_name()}zq{i}",
            "last_name": f"{fake.last_name()}zq{i}",
            "phone": f"06{12000000 + i:08d}",
            "street": f"{i} {fake.street_name()}",
            "city": fake.city(),
        }
        for i in range(40)
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(people[0]))
    writer.writeheader()
    writer.writerows(people)
    summary = _customers(db, buffer.getvalue())
    assert summary.accepted == 40, summary.rejections

    with db.sessions() as session:
        dump = repr(
            [
                session.execute(select(table)).all()
                for table in (
                    Customer.__table__,
                    Event.__table__,
                    CustomerIdentity.__table__,
                )
                if isinstance(table, Table)
            ]
        ).lower()
    for person in people:
        needles = [
            person["email"],
            person["first_name"],
            person["last_name"],
            person["street"],
            person["phone"],
            normalise_phone(person["phone"], default_region="FR"),
        ]
        for needle in needles:
            assert needle.lower() not in dump


def test_the_file_is_read_as_a_stream_not_loaded_whole(db: Store) -> None:
    data = (
        HEADER + "".join(f"u-{i},p{i}@example.com,A,B,,Paris,FR\n" for i in range(3000))
    ).encode()

    class Watched(io.BytesIO):
        furthest = 0

        def readline(self, size: int | None = -1) -> bytes:
            line = super().readline(size)
            Watched.furthest = max(Watched.furthest, self.tell())
            return line

        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("the importer must not read the file whole")

    read_at_first_commit: list[int] = []

    def progress(consumed: int) -> None:
        read_at_first_commit.append(Watched.furthest)

    summary = import_customers(
        db, stream=Watched(data), default_region="FR", progress=progress, chunk_rows=100
    )
    assert summary.accepted == 3000
    assert summary.bytes_read == len(data)
    assert read_at_first_commit[0] < len(data) // 10  # the first chunk was stored early
    assert len(read_at_first_commit) == 30


def test_a_row_the_database_refuses_is_refused_alone(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_ingest = bulk_import.ingest

    def fussy(session: Any, store: Store, **kwargs: Any) -> Any:
        if any("poison" in repr(m) for m in kwargs["messages"]):
            raise DataError("INSERT …", {}, Exception("refused"))
        return real_ingest(session, store, **kwargs)

    monkeypatch.setattr(bulk_import, "ingest", fussy)
    data = "userId,city\n" + "".join(f"u-{i},{'poison' if i == 3 else 'Paris'}\n" for i in range(6))
    summary = _customers(db, data, chunk_rows=4)

    assert (summary.accepted, _rejections(summary)) == (5, [(4, 5)])
    assert summary.rejections[0].reason == "refused by the database (Exception)"
    assert _count(db, Customer) == 5


def test_rows_the_database_refuses_are_found_by_halving_the_chunk(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk is 10,000 rows: retrying each row alone after one bad row would take 10,000
    transactions; halving takes a few per bad row, and still refuses only the bad rows."""
    real_ingest = bulk_import.ingest
    transactions = []

    def fussy(session: Any, store: Store, **kwargs: Any) -> Any:
        transactions.append(len(kwargs["messages"]))
        if any("poison" in repr(m) for m in kwargs["messages"]):
            raise DataError("INSERT …", {}, Exception("refused"))
        return real_ingest(session, store, **kwargs)

    monkeypatch.setattr(bulk_import, "ingest", fussy)
    poisoned = {9, 40}
    data = "userId,city\n" + "".join(
        f"u-{i},{'poison' if i in poisoned else 'Paris'}\n" for i in range(64)
    )
    data += ",Paris\n"  # no identifier: refused as it is shaped, before any transaction
    summary = _customers(db, data, chunk_rows=100)

    assert (summary.accepted, summary.rejected) == (62, 3)
    assert [r.row for r in summary.rejections] == [10, 41, 65]
    assert _count(db, Customer) == 62
    assert len(transactions) <= 1 + 2 * 2 * 7  # the chunk, then two halves a level per bad row


def test_a_nul_escape_in_an_event_spoils_only_that_event(db: Store) -> None:
    data = (
        '{"type": "track", "userId": "u-1", "event": "A", "properties": {"note": "x\\u0000y"}}\n'
        '{"type": "track", "userId": "u-1", "event": "B"}\n'
    )
    summary = _events(db, data)
    # SQLite stores the escape; PostgreSQL's jsonb refuses it, for that row only.
    if db.engine.dialect.name == "postgresql":
        assert (summary.accepted, _rejections(summary)) == (1, [(1, 1)])
        assert summary.rejections[0].reason.startswith("refused by the database")
    else:
        assert (summary.accepted, summary.rejected) == (2, 0)
    with db.sessions() as session:
        assert "B" in set(session.scalars(select(Event.name)))


def test_an_import_interrupted_by_the_database_resumes_when_run_again(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_ingest = bulk_import.ingest
    calls = {"n": 0}

    def failing_on_second_chunk(session: Any, store: Store, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("INSERT …", {}, Exception("connection lost"))
        return real_ingest(session, store, **kwargs)

    monkeypatch.setattr(bulk_import, "ingest", failing_on_second_chunk)
    data = "userId\n" + "".join(f"u-{i}\n" for i in range(25))
    with pytest.raises(ImportFailed, match="after 10 rows were stored"):
        _customers(db, data, chunk_rows=10)
    assert _count(db, Customer) == 10  # whole chunks only

    monkeypatch.setattr(bulk_import, "ingest", real_ingest)
    resumed = _customers(db, data, chunk_rows=10)
    assert (resumed.duplicates, resumed.accepted, _count(db, Customer)) == (10, 15, 25)


def test_message_ids_are_keyed_and_depend_on_the_source(db: Store) -> None:
    data = "email\nann@example.com\n"
    _customers(db, data, source="crm")
    _customers(db, data, source="crm")
    _customers(db, data, source="shop")
    with db.sessions() as session:
        ids = list(session.scalars(select(Event.message_id)))
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
    assert len(ids) == 2
    assert all(len(i) == len("import-") + 32 for i in ids)


# --- properties of the pure parts (no database) -------------------------------------------

_IDENTIFIER_COLUMNS = ("email", "firstName", "lastName", "street", "postalCode", "birthday")
_cells = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x01"),
    max_size=30,
)


def _message_id(content: bytes) -> str:
    return "import-test"


@given(values=st.lists(_cells, min_size=len(_IDENTIFIER_COLUMNS) + 3, max_size=10))
@settings(max_examples=200, deadline=None)
def test_mapped_identifiers_only_ever_reach_sealed_profile_fields(values: list[str]) -> None:
    header = ["userId", *_IDENTIFIER_COLUMNS, "city", "extra"]
    header += [f"col{i}" for i in range(len(values) - len(header))]
    # Each identifier cell carries a marker no generated text can contain.
    cells = [
        f"\x01{name}\x01{value}" if value.strip() and name in _IDENTIFIER_COLUMNS else value
        for name, value in zip(header, values, strict=True)
    ]
    mapping = resolve_mapping(header, {"traits.extra": "extra"})
    if not cells[0].strip() and not cells[1].strip():  # userId and email
        with pytest.raises(RowProblem, match=r"^no identifier"):
            row_message(cells, mapping, message_id=_message_id)
        return
    message = row_message(cells, mapping, message_id=_message_id)
    assert set(message) <= {"type", "traits", "messageId", "userId", "anonymousId"}
    assert "\x01" not in repr({k: v for k, v in message.items() if k != "traits"})
    try:
        profile = profile_from_traits(message["traits"])
    except InvalidTraits:
        return
    clear = repr([profile.traits, profile.city, profile.country, profile.gender, profile.language])
    assert "\x01" not in clear


@given(st.binary(max_size=400))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_crash_the_readers(data: bytes) -> None:
    try:
        _, csv_records = read_csv(LineReader(io.BytesIO(data), max_line_bytes=64), delimiter=None)
        records = list(csv_records)
    except InvalidInput:
        records = []
    try:  # a UTF-16 file is refused whole, with a clear error, by either reader
        lines_read = list(read_jsonl(LineReader(io.BytesIO(data), max_line_bytes=64)))
    except InvalidInput:
        lines_read = []
    for records_read in (records, lines_read):
        assert [r.row for r in records_read] == list(range(1, len(records_read) + 1))
        lines = [r.line for r in records_read]
        assert lines == sorted(set(lines))
    assert all(isinstance(r.content, list) for r in records if r.problem is None)


def test_an_import_leaves_the_planner_statistics_of_what_it_grew(db: Store) -> None:
    """Without them (autovacuum off, or not there yet) PostgreSQL read every e-mail link for
    each chunk's identity look-up: a 1M-row import slowed to a third (store.statistics)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner needs no statistics for these look-ups")
    rows = FIRST_REFRESH_ROWS + 100
    _customers(db, "email\n" + "".join(f"stats{i}@example.com\n" for i in range(rows)))
    with db.engine.connect() as connection:
        estimated = dict(
            connection.execute(
                text(
                    "SELECT relname, reltuples FROM pg_class"
                    " WHERE relname IN ('customers', 'customer_identities', 'events')"
                )
            ).all()
        )
    # Each row links its e-mail and the anonymous id an import gives a row without a user id.
    assert estimated == {"customers": rows, "customer_identities": 2 * rows, "events": rows}
