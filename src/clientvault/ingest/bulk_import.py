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
"""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TextIO

import orjson
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from clientvault.errors import ClientVaultError, InvalidInput
from clientvault.ingest.import_mapping import (
    ImportOptionsError,
    RowProblem,
    resolve_mapping,
    row_message,
)
from clientvault.ingest.import_reading import LineReader, Record, read_csv, read_jsonl
from clientvault.ingest.tracking import BatchResult, Rejection, ingest
from clientvault.settings import IdentitySettings
from clientvault.store.context import Store

__all__ = [
    "ImportFailed",
    "ImportOptionsError",
    "ImportSummary",
    "RowRejection",
    "error_report_path",
    "import_customers",
    "import_events",
]

CHUNK_ROWS = 1000
#: How many rejections a summary keeps in memory (the report file has them all).
KEPT_REJECTIONS = 1000
_MAX_SOURCE = 64
Progress = Callable[[int], None]


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
) -> ImportSummary:
    """Import customers from a CSV stream (UTF-8, header first) as ``identify`` calls.

    ``mapping`` is ``{target: header}`` and completes the default mapping (headers that spell
    a target); it is checked against the header before any row is read. ``progress`` is called
    with the number of bytes consumed since its previous call. Raises ``ImportOptionsError``
    for unusable options, ``InvalidInput`` for a file with no data rows, ``ImportFailed`` if
    the database fails.
    """
    _check_source(source)
    lines = LineReader(stream)
    header, records = read_csv(lines, delimiter=delimiter)
    columns = resolve_mapping(header, mapping)
    message_id = _message_ids(store, source)

    def messages() -> Iterator[tuple[Record, object]]:
        for record in records:
            if record.problem is not None:
                yield record, None
                continue
            try:
                yield record, row_message(record.content, columns, message_id=message_id)
            except RowProblem as problem:
                yield dataclasses.replace(record, problem=problem.reason), None

    summary = ImportSummary(ignored_columns=columns.ignored)
    _run(
        store,
        messages(),
        lines=lines,
        summary=summary,
        source=source,
        default_region=default_region,
        identity=identity,
        error_report=error_report,
        progress=progress,
        chunk_rows=chunk_rows,
        empty="the file has a header but no data rows",
    )
    return summary


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
) -> ImportSummary:
    """Import tracking-spec messages from a JSON-lines stream (one object with ``type`` a line).

    A message without ``messageId`` gets one derived from its content, so a re-run is
    idempotent (identical lines without an id are one event). Raises ``InvalidInput`` for a
    file without events, ``ImportFailed`` if the database fails.
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

    summary = ImportSummary()
    _run(
        store,
        messages(),
        lines=lines,
        summary=summary,
        source=source,
        default_region=default_region,
        identity=identity,
        error_report=error_report,
        progress=progress,
        chunk_rows=chunk_rows,
        empty="the file has no events",
    )
    return summary


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
    messages: list[object] = field(default_factory=list)
    positions: list[Record] = field(default_factory=list)
    refused: list[RowRejection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages) + len(self.refused)


def _run(
    store: Store,
    items: Iterator[tuple[Record, object]],
    *,
    lines: LineReader,
    summary: ImportSummary,
    source: str,
    default_region: str,
    identity: IdentitySettings | None,
    error_report: Path | None,
    progress: Progress | None,
    chunk_rows: int,
    empty: str,
) -> None:
    """Store the messages chunk by chunk, one transaction each, and account for every row.

    ``items`` pairs each record with its message; a record with a ``problem`` is refused.
    Raises ``InvalidInput`` with the message ``empty`` if there was no row at all.
    """
    started = time.perf_counter()
    reported_bytes = 0
    with _Report(error_report) as report:
        chunk = _Chunk()
        for record, message in items:
            summary.rows += 1
            if record.problem is not None:
                chunk.refused.append(RowRejection(record.row, record.line, record.problem))
            else:
                chunk.messages.append(message)
                chunk.positions.append(record)
            if len(chunk) >= chunk_rows:
                _store_chunk(store, chunk, summary, report, source, default_region, identity)
                chunk = _Chunk()
                if progress is not None:
                    progress(lines.bytes_read - reported_bytes)
                    reported_bytes = lines.bytes_read
        _store_chunk(store, chunk, summary, report, source, default_region, identity)
    if progress is not None and lines.bytes_read > reported_bytes:
        progress(lines.bytes_read - reported_bytes)
    summary.bytes_read = lines.bytes_read
    summary.seconds = time.perf_counter() - started
    if summary.rows == 0:
        raise InvalidInput(empty)


def _store_chunk(
    store: Store,
    chunk: _Chunk,
    summary: ImportSummary,
    report: _Report,
    source: str,
    default_region: str,
    identity: IdentitySettings | None,
) -> None:
    refused = list(chunk.refused)
    if chunk.messages:
        try:
            result = _ingest(
                store,
                chunk.messages,
                source=source,
                default_region=default_region,
                identity=identity,
            )
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
    refused.sort(key=lambda r: r.row)
    summary.rejected += len(refused)
    room = KEPT_REJECTIONS - len(summary.rejections)
    summary.rejections.extend(refused[: max(room, 0)])
    report.write(refused)


def _ingest(
    store: Store,
    messages: list[object],
    *,
    source: str,
    default_region: str,
    identity: IdentitySettings | None,
) -> BatchResult:
    """One chunk in one transaction. Should the database refuse the chunk for one row's data
    (a value the type checks let through), each row is retried alone, so only that row is
    refused. Any other database failure is raised."""
    try:
        with store.sessions.begin() as session:
            return ingest(
                session,
                store,
                source=source,
                messages=messages,
                default_region=default_region,
                identity=identity,
                implied_type=None,
            )
    except (DataError, IntegrityError) as exc:
        if len(messages) == 1:
            reason = f"refused by the database ({type(exc.orig or exc).__name__})"
            return BatchResult(rejected=[Rejection(index=0, reason=reason)])
    return _ingest_one_by_one(
        store, messages, source=source, default_region=default_region, identity=identity
    )


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


def _ingest_one_by_one(
    store: Store,
    messages: list[object],
    *,
    source: str,
    default_region: str,
    identity: IdentitySettings | None,
) -> BatchResult:
    combined = BatchResult()
    for index, message in enumerate(messages):
        single = _ingest(
            store, [message], source=source, default_region=default_region, identity=identity
        )
        _add_counts(combined, single)
        combined.rejected.extend(Rejection(index, r.reason) for r in single.rejected)
    return combined
