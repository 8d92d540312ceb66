"""Reading an import file as a stream: physical lines, then CSV records or JSON lines.

Nothing here holds more than one record in memory. Every line is decoded on its own, so a
line that is not UTF-8 (or holds a NUL, or is absurdly long) spoils only the record it belongs
to, which is reported with its row and line number instead of stopping the import. A UTF-8
byte-order mark is accepted; a UTF-16 file is refused up front with a clear message.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from clientvault.errors import InvalidInput
from clientvault.ingest.import_mapping import ImportOptionsError
from clientvault.ingest.spec import InvalidMessage, parse_json

#: The longest physical line read (a record may span several); longer ones are reported.
MAX_LINE_BYTES = 1024 * 1024
_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True, slots=True)
class Record:
    """One data record: its 1-based row (data rows only) and first line, and either its
    content (CSV fields or a parsed JSON value) or the problem that spoiled it."""

    row: int
    line: int
    content: Any
    problem: str | None = None


class LineReader:
    """The decoded physical lines of a binary stream, counting lines and bytes consumed.

    Problems found on a line (bad UTF-8, a NUL, too long) are kept by line number until the
    record that spans the line collects them with ``take_problem``.
    """

    def __init__(self, stream: BinaryIO, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._stream = stream
        self._max = max_line_bytes
        self.bytes_read = 0
        self.line_number = 0
        self._problems: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        while raw := self._stream.readline(self._max + 1):
            self.line_number += 1
            self.bytes_read += len(raw)
            if self.line_number == 1:
                raw = self._without_bom(raw)
            if len(raw) > self._max and not raw.endswith(b"\n"):
                self._skip_rest_of_line()
                self._problems[self.line_number] = f"line longer than {self._max // 1024} KB"
                yield "\n"
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self._problems[self.line_number] = "not valid UTF-8"
                text = raw.decode("utf-8", errors="replace")
            if "\x00" in text:
                self._problems.setdefault(self.line_number, "contains a NUL character")
                text = text.replace("\x00", "")
            yield text

    def take_problem(self, first: int, last: int) -> str | None:
        """The first problem on lines ``first..last``, forgetting those lines' problems."""
        if not self._problems:
            return None
        found = [self._problems.pop(n) for n in range(first, last + 1) if n in self._problems]
        return found[0] if found else None

    def _without_bom(self, raw: bytes) -> bytes:
        if raw.startswith(codecs.BOM_UTF8):
            return raw[len(codecs.BOM_UTF8) :]
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InvalidInput("the file is UTF-16: save it as UTF-8 and import it again")
        return raw

    def _skip_rest_of_line(self) -> None:
        while more := self._stream.readline(self._max):
            self.bytes_read += len(more)
            if more.endswith(b"\n"):
                return


def sniff_delimiter(header_line: str) -> str:
    """The delimiter a header line uses most among ``, ; TAB |`` (``,`` when it has none)."""
    counts = {candidate: header_line.count(candidate) for candidate in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def read_csv(lines: LineReader, *, delimiter: str | None) -> tuple[list[str], Iterator[Record]]:
    """The header of a CSV stream and an iterator over its data records.

    Blank lines (and lines of empty fields, as spreadsheets export) are skipped and not
    counted as rows. A malformed record (bad quoting, a field over the csv module's limit) is a
    record with a problem; the reader carries on with the next line.
    """
    if delimiter is not None and len(delimiter) != 1:
        raise ImportOptionsError("the delimiter is one character")
    stream = iter(lines)
    first = next(stream, None)
    if first is None:
        raise InvalidInput("the file is empty")
    if lines.take_problem(1, 1) is not None:
        raise InvalidInput("the header line is not valid UTF-8 text")
    reader = csv.reader(
        itertools.chain([first], stream), delimiter=delimiter or sniff_delimiter(first), strict=True
    )
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InvalidInput(f"the header line is not valid CSV ({exc})") from None
    if not any(cell.strip() for cell in header):
        raise InvalidInput("the first line must be the header; it is empty")
    return header, _records(reader, lines)


def _records(reader: Any, lines: LineReader) -> Iterator[Record]:
    row = 0
    end = reader.line_num
    while True:
        start = end + 1
        error = None
        try:
            values: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            values, error = None, f"malformed CSV ({exc})"
        end = reader.line_num
        problem = lines.take_problem(start, end) or error
        if problem is None and values is not None and not any(v.strip() for v in values):
            continue
        row += 1
        yield Record(row=row, line=start, content=values, problem=problem)


def read_jsonl(lines: LineReader) -> Iterator[Record]:
    """The JSON values of a JSON-lines stream, one per non-blank line."""
    row = 0
    for text in lines:
        number = lines.line_number
        problem = lines.take_problem(number, number)
        if problem is None and not text.strip():
            continue
        row += 1
        if problem is not None:
            yield Record(row=row, line=number, content=None, problem=problem)
            continue
        try:
            value = parse_json(text)
        except InvalidMessage as exc:
            yield Record(row=row, line=number, content=None, problem=exc.reason)
            continue
        yield Record(row=row, line=number, content=value)
