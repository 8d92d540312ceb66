"""Bulk import: customers from CSV (with a column mapping) and events from JSON lines.

Every row goes through the tracking pipeline (``ingest``), so normalisation, validation,
sealing, scrubbing, identity stitching and idempotency are the ones live traffic gets. A CSV
row becomes one ``identify`` message; a JSON line is a tracking-spec message as it is. The file
is streamed: rows are read one at a time and stored in chunks, each chunk one transaction. A
row is one message, which ``ingest`` stores whole or refuses whole, so no row is ever half
imported; a refused row is reported (row, line, reason — never its values) while the others
land. Message ids are derived from the row's content with the installation's index key, so
importing a file again stores nothing twice, and an interrupted import is resumed by running it
again.

Historic data is kept: the event retention period counts from receipt and a customer's from
their last activity (``privacy.retention``), so rows dated years ago are not purged at the next
run. Orders are the exception — the accounting period counts from the order date — so an
import counts the order events it stores that the next run would purge at once
(``ImportSummary.expiring``), and ``expiring_events`` counts them in a file before importing
it, for the CLI to ask first.
"""

from __future__ import annotations

import csv
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TextIO

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from clientvault.errors import ClientVaultError, InvalidInput
from clientvault.identity.models import Customer, CustomerIdentity
from clientvault.ingest.commerce.consumer import ORDER_COMPLETED
from clientvault.ingest.holders import ORDERS
from clientvault.ingest.import_mapping import (
    ColumnMapping,
    ImportOptionsError,
    RowProblem,
    resolve_mapping,
    row_message,
)
from clientvault.ingest.import_preparing import Preparer, Shape
from clientvault.ingest.import_reading import LineReader, Record, read_csv, read_jsonl
from clientvault.ingest.models import Event
from clientvault.ingest.tracking import BatchResult, PreparedBatch, Rejection, ingest
from clientvault.privacy.retention import months_before
from clientvault.settings import DEFAULT_URL_PARAMETERS, IdentitySettings, RetentionSettings
from clientvault.store.base import table_of, utcnow
from clientvault.store.collector import collecting_less
from clientvault.store.context import Store
from clientvault.store.engine import bulk_writing
from clientvault.store.keystore import DataKeyRecord
from clientvault.store.statistics import GrowthAnalyzer, estimated_rows, refresh_statistics

__all__ = [
    "ImportFailed",
    "ImportOptionsError",
    "ImportSummary",
    "RowRejection",
    "error_report_path",
    "expiring_events",
    "import_customers",
    "import_events",
]

#: Rows stored per transaction. Against 1M profiles each imported row adds entries at random
#: places of a dozen indexes (blind indexes and ids are keyed hashes), so a chunk of 1,000
#: rows changed about 9 index pages a row; SQLite writes each changed page whole to its log
#: at commit, then to the database file, and these page copies were half the writing
#: process's time (perf: ext4 writes). 10,000 rows share more of those pages: for the last
#: 100k rows of a 1M import, 3,805 rows/s against 2,719 on SQLite, 4,403-4,701 against
#: 4,109-4,264 on PostgreSQL; peak memory 285 MiB against 160. A SQLite writer holds the
#: write lock that long (~2.5 s a chunk): live tracking calls wait behind it meanwhile.
CHUNK_ROWS = 10_000
#: Chunks read ahead of the one being stored, prepared meanwhile (``import_preparing``).
_AHEAD = 1
#: How many rejections a summary keeps in memory (the report file has them all).
KEPT_REJECTIONS = 1000
_MAX_SOURCE = 64
Progress = Callable[[int], None]
#: Whether a message stored now is purged by the next retention run (``order_expiry``).
Expiring = Callable[[object], bool]


class ImportFailed(ClientVaultError):
    """The database failed during an import; the chunks committed before stay committed."""

    default_code = "import_failed"


@dataclass(frozen=True, slots=True)
class RowRejection:
    """A refused row: its 1-based data row, its first line in the file, and why."""

    row: int
    line: int
    reason: str


@dataclass
class ImportSummary:
    """What an import did. ``rejections`` holds at most ``KEPT_REJECTIONS`` of them.
    ``identifier_conflicts`` and ``blocked_identifiers`` as in ``BatchResult``."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    customers_created: int = 0
    identifier_conflicts: int = 0
    blocked_identifiers: int = 0
    seconds: float = 0.0
    bytes_read: int = 0
    ignored_columns: tuple[str, ...] = ()
    rejections: list[RowRejection] = field(default_factory=list)
    #: Rows stored that the next retention run purges at once: order events dated before
    #: the accounting period (it counts from the order date). 0 without retention settings.
    expiring: int = 0

    @property
    def imported_nothing(self) -> bool:
        """No row was stored or found stored already: the import failed as a whole."""
        return self.accepted == 0 and self.duplicates == 0


def error_report_path(file: Path) -> Path:
    """Where the error report of an imported file goes by default: ``FILE.errors.csv``."""
    return file.with_name(file.name + ".errors.csv")


def import_customers(
    store: Store,
    *,
    stream: BinaryIO,
    default_region: str,
    identity: IdentitySettings | None = None,
    source: str = "import",
    mapping: Mapping[str, str] | None = None,
    delimiter: str | None = None,
    error_report: Path | None = None,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
    url_parameters: Sequence[str] = DEFAULT_URL_PARAMETERS,
    summary: ImportSummary | None = None,
) -> ImportSummary:
    """Import customers from a CSV stream (UTF-8, header first) as ``identify`` calls.

    ``mapping`` is ``{target: header}`` and completes the default mapping (headers that spell
    a target); it is checked against the header before any row is read. ``progress`` is called
    with the number of bytes consumed since its previous call. Identify calls are never
    orders, so ``expiring`` (``import_events``) stays 0. Raises
    ``ImportOptionsError`` for unusable options, ``InvalidInput`` for a file with no data rows,
    ``ImportFailed`` if the database fails. ``summary``: the summary to fill (and return),
    for a caller reading its counts as they grow, from ``progress`` (a background job's).
    """
    _check_source(source)
    lines = LineReader(stream)
    header, records = read_csv(lines, delimiter=delimiter)
    columns = resolve_mapping(header, mapping)
    summary = summary if summary is not None else ImportSummary()
    summary.ignored_columns = columns.ignored
    # Rows become messages where their chunk is prepared (``import_preparing``); identify
    # calls are never orders, so none is ever expiring.
    shape = _RowMessages(columns, source)
    _run(
        _Destination(store, source, default_region, identity, url_parameters, shape),
        ((record, record.content) for record in records),
        lines=lines,
        summary=summary,
        error_report=error_report,
        progress=progress,
        chunk_rows=chunk_rows,
        expiring=None,
        empty="the file has a header but no data rows",
    )
    return summary


@dataclass(frozen=True)
class _RowMessages:
    """A customer file's rows as identify messages (``row_message``, raises ``RowProblem``),
    made wherever the chunk is prepared: a ``Shape`` (``import_preparing``)."""

    columns: ColumnMapping
    source: str

    def __call__(self, store: Store, row: Sequence[str]) -> object:
        return row_message(row, self.columns, message_id=_message_ids(store, self.source))


def import_events(
    store: Store,
    *,
    stream: BinaryIO,
    default_region: str,
    identity: IdentitySettings | None = None,
    source: str = "import",
    error_report: Path | None = None,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
    retention: RetentionSettings | None = None,
    url_parameters: Sequence[str] = DEFAULT_URL_PARAMETERS,
    summary: ImportSummary | None = None,
) -> ImportSummary:
    """Import tracking-spec messages from a JSON-lines stream (one object with ``type`` a line).

    A message without ``messageId`` gets one derived from its content, so a re-run is
    idempotent (identical lines without an id are one event). With ``retention`` the summary
    counts the order events the next retention run would purge at once (``expiring``). Raises
    ``InvalidInput`` for a file without events, ``ImportFailed`` if the database fails.
    ``summary`` as for ``import_customers``.
    """
    _check_source(source)
    lines = LineReader(stream)
    message_id = _message_ids(store, source)

    def messages() -> Iterator[tuple[Record, object]]:
        for record in read_jsonl(lines):
            value = record.content
            if isinstance(value, dict) and value.get("messageId") is None:
                content = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
                yield record, {**value, "messageId": message_id(content)}
            else:
                yield record, value

    summary = summary if summary is not None else ImportSummary()
    _run(
        _Destination(store, source, default_region, identity, url_parameters),
        messages(),
        lines=lines,
        summary=summary,
        error_report=error_report,
        progress=progress,
        chunk_rows=chunk_rows,
        expiring=order_expiry(retention),
        empty="the file has no events",
    )
    return summary


def order_expiry(
    retention: RetentionSettings | None, *, now: datetime | None = None
) -> Expiring | None:
    """Whether a message would be stored as an order the next retention run purges at once:
    an ``Order Completed`` event dated before the accounting period (``ingest.orders`` counts
    from the order date). ``None`` when no retention applies to orders."""
    months = retention.holder_months.get(ORDERS.name) if retention and retention.enabled else None
    if months is None:
        return None
    cutoff = months_before(now or utcnow(), months)

    def expiring(message: object) -> bool:
        if not isinstance(message, dict) or message.get("event") != ORDER_COMPLETED:
            return False
        moment = message.get("timestamp") or message.get("originalTimestamp")
        try:
            placed = datetime.fromisoformat(moment) if isinstance(moment, str) else None
        except ValueError:
            return False
        return placed is not None and placed.tzinfo is not None and placed < cutoff

    return expiring


def expiring_events(
    stream: BinaryIO, *, retention: RetentionSettings, now: datetime | None = None
) -> int:
    """How many messages of a JSON-lines stream the next retention run would purge as soon as
    they are imported (see ``order_expiry``): read before importing, so a caller can ask."""
    expiring = order_expiry(retention, now=now)
    if expiring is None:
        return 0
    records = read_jsonl(LineReader(stream))
    return sum(expiring(r.content) for r in records if r.problem is None)


def _check_source(source: str) -> None:
    if not source.strip() or len(source) > _MAX_SOURCE:
        raise ImportOptionsError(f"a source name is 1 to {_MAX_SOURCE} characters")


def _message_ids(store: Store, source: str) -> Callable[[bytes], str]:
    """Message ids keyed with the index key: a plain hash of a row would let anyone holding
    the database confirm a guessed e-mail address by hashing it."""

    def message_id(content: bytes) -> str:
        digest = store.index("import-message", f"{source}\x00{content.decode('utf-8')}")
        return "import-" + digest.hex()[:32]

    return message_id


class _Report:
    """The error report file (CSV: row, line, reason), written as rejections come."""

    def __init__(self, path: Path | None) -> None:
        self._file: TextIO | None = None
        self._writer: Any = None
        if path is not None:
            try:
                self._file = path.open("w", newline="", encoding="utf-8")
            except OSError as exc:
                raise ImportOptionsError(
                    f"cannot write the error report {path}: {exc.strerror}"
                ) from None
            self._writer = csv.writer(self._file)
            self._writer.writerow(["row", "line", "reason"])

    def write(self, rejections: Sequence[RowRejection]) -> None:
        if self._writer is not None and rejections:
            self._writer.writerows((r.row, r.line, r.reason) for r in rejections)
            assert self._file is not None
            self._file.flush()

    def __enter__(self) -> _Report:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()


@dataclass
class _Chunk:
    #: The rows to store: messages, or what ``_Destination.shape`` makes them from.
    rows: list[object] = field(default_factory=list)
    positions: list[Record] = field(default_factory=list)
    refused: list[RowRejection] = field(default_factory=list)
    prepared: Future[PreparedBatch] | None = None

    def __len__(self) -> int:
        return len(self.rows) + len(self.refused)


@dataclass(frozen=True)
class _Destination:
    """Where an import's rows go, and the tracking pipeline's options for them."""

    store: Store
    source: str
    default_region: str
    identity: IdentitySettings | None
    url_parameters: Sequence[str]
    #: How a row becomes its message (None: it is one already).
    shape: Shape | None = None
    #: The connection the import writes every chunk on (``_run`` holds it for the import):
    #: one connection keeps SQLite's page cache from one chunk to the next.
    connection: Connection | None = None


def _run(
    destination: _Destination,
    items: Iterator[tuple[Record, object]],
    *,
    lines: LineReader,
    summary: ImportSummary,
    error_report: Path | None,
    progress: Progress | None,
    chunk_rows: int,
    expiring: Expiring | None,
    empty: str,
) -> None:
    """Store the messages chunk by chunk, one transaction each, and account for every row.

    ``items`` pairs each record with its message; a record with a ``problem`` is refused.
    ``expiring`` tells which stored messages to count in ``summary.expiring``.
    Raises ``InvalidInput`` with the message ``empty`` if there was no row at all.
    """
    started = time.perf_counter()
    reported_bytes = 0
    preparer = Preparer(
        destination.store,
        source=destination.source,
        default_region=destination.default_region,
        url_parameters=destination.url_parameters,
        shape=destination.shape,
    )
    # Chunks read and being prepared (``import_preparing``), stored in order: at most
    # ``_AHEAD`` wait, so memory stays flat whatever the file's size.
    waiting: deque[_Chunk] = deque()
    analyzer = _growth_analyzer(destination.store)
    with (
        _Report(error_report) as report,
        preparer,
        collecting_less(),
        destination.store.engine.connect() as connection,
        bulk_writing(connection),
    ):
        destination = replace(destination, connection=connection)

        def store_oldest() -> None:
            nonlocal reported_bytes
            accepted = summary.accepted
            _store_chunk(destination, waiting.popleft(), summary, report, expiring)
            analyzer.wrote(summary.accepted - accepted)
            if progress is not None:
                progress(lines.bytes_read - reported_bytes)
                reported_bytes = lines.bytes_read

        chunk = _Chunk()
        for record, message in items:
            summary.rows += 1
            if record.problem is not None:
                chunk.refused.append(RowRejection(record.row, record.line, record.problem))
            else:
                chunk.rows.append(message)
                chunk.positions.append(record)
            if len(chunk) >= chunk_rows:
                chunk.prepared = preparer.submit(chunk.rows) if chunk.rows else None
                waiting.append(chunk)
                chunk = _Chunk()
                if len(waiting) > _AHEAD:
                    store_oldest()
        if len(chunk):
            chunk.prepared = preparer.submit(chunk.rows) if chunk.rows else None
            waiting.append(chunk)
        while waiting:
            store_oldest()
        analyzer.finish()
    if progress is not None and lines.bytes_read > reported_bytes:
        progress(lines.bytes_read - reported_bytes)
    summary.bytes_read = lines.bytes_read
    summary.seconds = time.perf_counter() - started
    if summary.rows == 0:
        raise InvalidInput(empty)


def _growth_analyzer(store: Store) -> GrowthAnalyzer:
    """What keeps the planner's statistics of the tables an import grows fresh (its
    look-ups by identifier and message id read every row of a kind without them)."""
    data = [table_of(model) for model in (Customer, CustomerIdentity, Event)]
    keys = [table_of(DataKeyRecord)]

    def refresh() -> int:
        refresh_statistics(store.keystore.engine, keys)
        return refresh_statistics(store.engine, data)

    return GrowthAnalyzer(refresh, held=estimated_rows(store.engine, data[0]))


def _store_chunk(
    destination: _Destination,
    chunk: _Chunk,
    summary: ImportSummary,
    report: _Report,
    expiring: Expiring | None,
) -> None:
    refused = list(chunk.refused)
    if chunk.rows:
        assert chunk.prepared is not None
        try:
            result = _ingest(destination, chunk.rows, chunk.prepared.result())
        except DBAPIError as exc:
            raise ImportFailed(
                f"the database failed ({type(exc.orig or exc).__name__}) after "
                f"{summary.accepted + summary.duplicates} rows were stored; they stay stored, "
                "and running the import again skips them as duplicates"
            ) from None
        _add_counts(summary, result)
        for rejection in result.rejected:
            record = chunk.positions[rejection.index]
            refused.append(RowRejection(record.row, record.line, rejection.reason))
        if expiring is not None:
            stored = set(range(len(chunk.rows))) - {r.index for r in result.rejected}
            summary.expiring += sum(expiring(chunk.rows[index]) for index in stored)
    refused.sort(key=lambda r: r.row)
    summary.rejected += len(refused)
    room = KEPT_REJECTIONS - len(summary.rejections)
    summary.rejections.extend(refused[: max(room, 0)])
    report.write(refused)


def _ingest(
    destination: _Destination, rows: list[object], prepared: PreparedBatch | None = None
) -> BatchResult:
    """One chunk's rows (``prepared`` already; without it, messages to prepare) in one
    transaction. Should the database refuse the chunk for one row's data (a value the type
    checks let through), it is stored again in halves (``_ingest_halves``), so only that row
    is refused. Any other database failure is raised."""
    try:
        sessions = destination.store.sessions
        with sessions(bind=destination.connection) as session, session.begin():
            return ingest(
                session,
                destination.store,
                source=destination.source,
                messages=rows,
                default_region=destination.default_region,
                identity=destination.identity,
                implied_type=None,
                url_parameters=destination.url_parameters,
                prepared=prepared,
            )
    except (DataError, IntegrityError) as exc:
        if len(rows) == 1:
            reason = f"refused by the database ({type(exc.orig or exc).__name__})"
            return BatchResult(rejected=[Rejection(index=0, reason=reason)])
    return _ingest_halves(destination, rows)


#: What a chunk's result adds to an import's counts.
_COUNTS = (
    "accepted",
    "duplicates",
    "customers_created",
    "identifier_conflicts",
    "blocked_identifiers",
)


def _add_counts(total: ImportSummary | BatchResult, part: BatchResult) -> None:
    for name in _COUNTS:
        setattr(total, name, getattr(total, name) + getattr(part, name))


def _ingest_halves(destination: _Destination, rows: list[object]) -> BatchResult:
    """Rows a transaction refused, made into messages (once) and stored as two halves, each
    halved again if refused in turn: a bad row among a chunk's 10,000 costs about 2 x 14
    transactions, not 10,000. Rejections carry the rows' indexes."""
    combined = BatchResult()
    messages: list[object] = []
    positions: list[int] = []
    for index, row in enumerate(rows):
        try:
            shaped = row if destination.shape is None else destination.shape(destination.store, row)
        except RowProblem as problem:
            combined.rejected.append(Rejection(index, problem.reason))
            continue
        messages.append(shaped)
        positions.append(index)
    shaped_already = replace(destination, shape=None)
    middle = len(messages) // 2
    for start, part in ((0, messages[:middle]), (middle, messages[middle:])):
        if part:
            result = _ingest(shaped_already, part)
            _add_counts(combined, result)
            combined.rejected.extend(
                Rejection(positions[start + r.index], r.reason) for r in result.rejected
            )
    combined.rejected.sort(key=lambda rejection: rejection.index)
    return combined
