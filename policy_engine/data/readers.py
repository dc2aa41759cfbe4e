"""Streaming readers for account and history files.

The format follows the file suffix: ``.jsonl``, ``.ndjson`` and ``.json`` are JSON Lines (one object per
line), ``.csv`` is CSV with a header row and dotted column names for nested fields (``flags.dispute``),
``.parquet`` is Parquet (needs the optional pyarrow dependency). The path ``-`` reads JSON Lines from stdin.

Rows are read one at a time, so memory stays bounded whatever the file size (the account reader also
remembers each account id it has seen, to reject duplicates). A row that cannot be used becomes a
:class:`~policy_engine._exceptions.RowError` carrying file, 1-based physical line (CSV: the header is
line 1; Parquet: the row number) and a reason; it goes to a :class:`Rejects` collector and reading goes
on (without a collector, the first bad row raises its RowError instead: nothing is dropped silently).
A file that cannot be used at all raises :class:`~policy_engine._exceptions.InputUnusableError`; the
path checks happen when the reader is called, the "no valid account" check when the stream ends.

Fields the record format does not know are dropped; each file produces one warning listing them, put in
``rejects.warnings`` when a collector is given, else issued as an :class:`UnknownFieldsWarning`.

A row that cannot be used for any reason (bad JSON, objects nested more than :data:`MAX_ROW_NESTING`
levels, NaN or an integer of thousands of digits, an unclosed CSV quote, any failure of the validator)
is rejected with its line; the rows after it are read as usual.

Values follow the same rules in every format: null / an empty CSV cell means absent, booleans accept
true/false/yes/no/1/0 in any case, JSON numbers are read exactly (as Decimal) for money fields.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, TextIO, TypeVar

from pydantic import BaseModel, ValidationError

from policy_engine._exceptions import InputUnusableError, RowError
from policy_engine.data.records import (
    NESTED_GROUPS,
    Account,
    HistoryEvent,
    describe_validation_error,
    unknown_fields,
)

__all__ = [
    "ALLOWED_SUFFIXES",
    "MAX_LINE_BYTES",
    "MAX_ROW_NESTING",
    "PARQUET_BATCH_ROWS",
    "STDIN",
    "InputSource",
    "RawRow",
    "Rejects",
    "UnknownFieldsWarning",
    "jsonl_lines",
    "no_valid_account",
    "open_source",
    "parquet_batch_rows",
    "parse_jsonl_line",
    "read_accounts",
    "read_history",
    "source_rows",
    "validate_row",
    "warn_unknown_fields",
]

STDIN: Final = "-"
STDIN_NAME: Final = "<stdin>"
_KINDS: Final[dict[str, Literal["jsonl", "csv", "parquet"]]] = {
    ".csv": "csv",
    ".json": "jsonl",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
ALLOWED_SUFFIXES: Final = tuple(sorted(_KINDS))
PARQUET_BATCH_ROWS: Final = 4096
MAX_LINE_BYTES: Final = 1024 * 1024
"""The longest line read: 1 MiB. A longer line is rejected (its first 200 characters kept) and skipped."""
MAX_ROW_NESTING: Final = 32
"""How deep objects and arrays may nest in one row (``attributes`` are free-form); deeper rows are rejected."""
_PYARROW_MISSING: Final = "reading Parquet needs pyarrow: pip install 'policy-engine[parquet]'"

M = TypeVar("M", bound=BaseModel)


class UnknownFieldsWarning(UserWarning):
    """A file has fields the record format does not know; they were ignored."""


class Rejects:
    """Collects the rows set aside while reading, and optionally writes them to a JSON Lines file.

    ``count`` counts every rejected row; ``errors`` keeps the first ``keep`` of them in memory (the sink
    file, when given, receives all of them as ``{"file", "line", "reason", "raw"}`` objects). The sink is
    opened on the first rejected row; on :meth:`close` a sink that received nothing is still created
    empty, so a stale file from an earlier run never survives. ``warnings`` holds file-level notes such
    as ignored unknown fields.
    """

    def __init__(self, sink: str | Path | None = None, *, keep: int = 1000) -> None:
        self.sink = Path(sink) if sink is not None else None
        self.keep = keep
        self.errors: list[RowError] = []
        self.warnings: list[str] = []
        self._count = 0
        self._stream: TextIO | None = None
        self._closed = False

    @property
    def count(self) -> int:
        """How many rows were rejected so far."""
        return self._count

    def add(self, error: RowError) -> None:
        """Record one rejected row (and append it to the sink file)."""
        self._count += 1
        if len(self.errors) < self.keep:
            self.errors.append(error)
        if self.sink is not None:
            record = {"file": error.file, "line": error.line, "reason": error.reason, "raw": error.raw}
            text = json.dumps(record, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
            self._sink_stream().write(text + "\n")  # one record per line, even for tools splitting at U+2028

    def warn(self, message: str) -> None:
        """Record a file-level warning."""
        self.warnings.append(message)

    def report(self, stream: TextIO | None = None, *, limit: int | None = None) -> None:
        """Write warnings and ``file:line: reason`` lines to ``stream`` (default: stderr)."""
        out = sys.stderr if stream is None else stream
        for message in self.warnings:
            out.write(f"warning: {message}\n")
        shown = self.errors if limit is None else self.errors[:limit]
        for error in shown:
            out.write(f"{error.file}:{error.line}: {error.reason}\n")
        if self._count > len(shown):
            where = f" (all in {self.sink})" if self.sink is not None else ""
            out.write(f"... and {self._count - len(shown)} more rejected rows{where}\n")

    def close(self) -> None:
        """Close the sink file, creating it empty when no row was rejected."""
        if self.sink is not None and not self._closed:
            self._sink_stream().close()
        self._closed = True

    def __enter__(self) -> Rejects:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _sink_stream(self) -> TextIO:
        assert self.sink is not None
        if self._stream is None:
            try:
                self._stream = self.sink.open("w", encoding="utf-8")
            except OSError as exc:
                raise InputUnusableError(
                    f"{self.sink}: cannot write the rejects file ({exc.strerror or exc})"
                ) from exc
        return self._stream


@dataclass(frozen=True)
class InputSource:
    """A checked input file: the name messages use, its path (None for stdin) and its format."""

    name: str
    path: Path | None
    kind: Literal["jsonl", "csv", "parquet"]


@dataclass(frozen=True)
class RawRow:
    """One row of an input as read: its line, its text, its values (None when it could not be parsed) and
    the reason it cannot be used, when that is already known."""

    line: int
    raw: str
    data: dict[str, Any] | None
    error: str | None = None


def read_accounts(path: str | Path, *, rejects: Rejects | None = None) -> Iterator[Account]:
    """Stream the valid accounts of a file; invalid rows go to ``rejects``.

    Without ``rejects`` the first invalid row raises its RowError. Raises InputUnusableError at once when
    the file cannot be used, and at the end of the stream when it held no valid account.
    """
    source = open_source(path)
    return _records(source, Account, rejects, key=_account_key, groups=frozenset(NESTED_GROUPS))


def read_history(path: str | Path, *, rejects: Rejects | None = None) -> Iterator[HistoryEvent]:
    """Stream the valid history events of a file; invalid rows go to ``rejects`` (or raise without it)."""
    source = open_source(path)
    return _records(source, HistoryEvent, rejects, key=None, groups=frozenset())


def _account_key(account: Account) -> str:
    return account.account_id


def open_source(path: str | Path) -> InputSource:
    """Check that ``path`` can be read, and which format it holds (InputUnusableError if not)."""
    if str(path) == STDIN:
        return InputSource(STDIN_NAME, None, "jsonl")
    name = str(path)
    file = Path(path)
    if not file.exists():
        raise InputUnusableError(f"{name}: no such file")
    if file.is_dir():
        raise InputUnusableError(f"{name}: is a directory, not a file")
    kind = _KINDS.get(file.suffix.lower())
    if kind is None:
        allowed = ", ".join(ALLOWED_SUFFIXES)
        raise InputUnusableError(
            f"{name}: unknown file type {file.suffix or '(no suffix)'!r}; use one of {allowed} (- for stdin)"
        )
    try:
        with file.open("rb") as stream:
            start = stream.read(4)
    except OSError as exc:
        raise InputUnusableError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    for bom, encoding in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                          (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if kind != "parquet" and start.startswith(bom):
            raise InputUnusableError(f"{name}: this is {encoding} text, not UTF-8 (save the file as UTF-8)")
    if kind == "parquet":
        pq, arrow_error = _pyarrow()
        try:
            pq.ParquetFile(file).close()
        except (arrow_error, OSError) as exc:
            raise InputUnusableError(f"{name}: not a readable Parquet file ({exc})") from exc
    return InputSource(name, file, kind)


def _pyarrow() -> tuple[Any, type[Exception]]:
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputUnusableError(_PYARROW_MISSING) from exc
    return pq, pyarrow.ArrowException


def _records(
    source: InputSource,
    model: type[M],
    rejects: Rejects | None,
    *,
    key: Callable[[M], str] | None,
    groups: frozenset[str],
) -> Iterator[M]:
    """Validate each row into ``model``; reject the bad ones; warn once about unknown fields."""
    seen: dict[str, int] = {}
    unknown: dict[str, None] = {}
    valid = rejected = 0
    try:
        for row in source_rows(source):
            record, reason = validate_row(row, model, groups, unknown)
            if record is not None and key is not None:
                record_id = key(record)
                first = seen.setdefault(record_id, row.line)
                if first != row.line:
                    reason, record = f"account_id {record_id} already appeared on line {first}", None
            if record is None:
                rejected += 1
                error = RowError(source.name, row.line, reason or "invalid row", row.raw)
                if rejects is None:
                    raise error
                rejects.add(error)
                continue
            valid += 1
            yield record
    finally:
        warn_unknown_fields(rejects, source.name, unknown)
    if key is not None and valid == 0:
        raise no_valid_account(source.name, rejected, rejects)


def warn_unknown_fields(rejects: Rejects | None, name: str, unknown: dict[str, None]) -> None:
    """The one warning of a file whose rows had fields the record format does not know."""
    if unknown:
        _warn(rejects, f"{name}: unknown fields ignored: {', '.join(unknown)}")


def no_valid_account(name: str, rejected: int, rejects: Rejects | None) -> InputUnusableError:
    """The error of an account file without one valid row, naming the first rejected row's reason."""
    detail = f" ({rejected} rejected)" if rejected else ""
    first_rejected = next((error for error in rejects.errors if error.file == name), None) if rejects else None
    if first_rejected is not None:  # say why, or a user with one bad row learns nothing
        detail = f" ({rejected} rejected; line {first_rejected.line}: {first_rejected.reason})"
    return InputUnusableError(f"{name}: no valid account row{detail}")


def validate_row(
    row: RawRow, model: type[M], groups: frozenset[str], unknown: dict[str, None]
) -> tuple[M | None, str | None]:
    """One parsed row as a record of ``model``, or the reason it is rejected; the fields ``model`` does not
    know are added to ``unknown`` (in the order first seen)."""
    if row.error is not None or row.data is None:
        return None, row.error
    try:
        data = _shape(row.data, groups)
        unknown.update(dict.fromkeys(unknown_fields(model, data)))
        return model.model_validate(data), None
    except ValidationError as exc:
        return None, describe_validation_error(exc)
    except Exception as exc:  # noqa: BLE001  (one row never stops the batch: any failure rejects it)
        return None, f"this row cannot be read ({exc.__class__.__name__}: {_short(str(exc))})"


def _warn(rejects: Rejects | None, message: str) -> None:
    if rejects is not None:
        rejects.warn(message)
    else:
        warnings.warn(message, UnknownFieldsWarning, stacklevel=2)


def _shape(data: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    """Drop nulls (absent) and nest dotted keys such as ``flags.dispute`` into their group."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key in groups and isinstance(value, dict):
            group = out.setdefault(key, {})
            if isinstance(group, dict):
                group.update((k, v) for k, v in value.items() if v is not None)
                continue
        elif "." in key:
            head, _, tail = key.partition(".")
            group = out.setdefault(head, {}) if head in groups else None
            if isinstance(group, dict):
                group[tail] = value
                continue
        out[key] = value
    return out


def jsonl_lines(source: InputSource) -> Iterator[tuple[int, str, str | None]]:
    """The non-blank lines of a JSON Lines source, unparsed: (line number, text, a problem of the line such
    as invalid UTF-8 or too long, else None)."""
    try:
        if source.path is None:
            yield from _jsonl_lines(_Lines(getattr(sys.stdin, "buffer", sys.stdin)), source.name)
            return
        with source.path.open("rb") as stream:
            yield from _jsonl_lines(_Lines(stream), source.name)
    except OSError as exc:
        raise InputUnusableError(f"{source.name}: read failed ({exc.strerror or exc})") from exc


def source_rows(source: InputSource) -> Iterator[RawRow]:
    """The rows of a source, parsed but not validated (line order)."""
    if source.path is None:
        yield from _jsonl_rows(_Lines(getattr(sys.stdin, "buffer", sys.stdin)), source.name)
        return
    try:
        if source.kind == "parquet":
            yield from _parquet_rows(source.path, source.name)
            return
        with source.path.open("rb") as stream:
            lines = _Lines(stream)
            yield from (
                _jsonl_rows(lines, source.name) if source.kind == "jsonl" else _csv_rows(lines, source.name)
            )
    except OSError as exc:
        raise InputUnusableError(f"{source.name}: read failed ({exc.strerror or exc})") from exc


def _ends_line(chunk: bytes | str) -> bool:
    return chunk.endswith(b"\n") if isinstance(chunk, bytes) else chunk.endswith("\n")


class _Lines:
    """Physical lines of a stream as text, remembering the lines the current record used.

    A line is read up to :data:`MAX_LINE_BYTES`; a longer one is skipped to its end and marked, so one
    huge line neither fills the memory nor hides the rows after it. Lines can be given back
    (:meth:`rewind`): a CSV record that swallowed the rows after an unclosed quote returns them, and they
    are read again as rows of their own, with their own line numbers.
    """

    def __init__(self, stream: IO[bytes] | IO[str] | TextIO) -> None:
        self._stream = stream
        self.count = 0
        self._taken: list[str] = []
        self._problems: list[str | None] = []
        self._again: list[tuple[str, str | None]] = []  # given back, in reverse order

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        text, problem = self._again.pop() if self._again else self._read()
        self.count += 1
        self._taken.append(text)
        self._problems.append(problem)
        return text

    def _read(self) -> tuple[str, str | None]:
        raw: bytes | str = self._stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        problem = None
        if len(raw) > MAX_LINE_BYTES and not _ends_line(raw):
            while True:  # skip the rest of the line, a chunk at a time
                rest: bytes | str = self._stream.readline(MAX_LINE_BYTES)
                if not rest or _ends_line(rest):
                    break
            raw = raw[:200]
            problem = f"longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB, the limit for one line"
        if isinstance(raw, bytes):
            if self.count == 0:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                return raw.decode("utf-8"), problem
            except UnicodeDecodeError:
                return raw.decode("utf-8", "replace"), problem or "not valid UTF-8 text"
        return (raw.removeprefix("\ufeff") if self.count == 0 else raw), problem

    def taken(self) -> list[str]:
        """The physical lines the current record used so far."""
        return list(self._taken)

    def take(self) -> tuple[str, str | None]:
        """The text the current record used, and a problem of one of its lines (if any); then reset."""
        raw = "".join(self._taken).rstrip("\r\n")
        first_line = self.count - len(self._taken) + 1
        problem = next((f"line {first_line + i} is {p}" for i, p in enumerate(self._problems) if p), None)
        self._taken, self._problems = [], []
        return raw, problem

    def rewind(self, keep: int) -> None:
        """Keep the first ``keep`` lines of the current record as taken; give the others back, to be read
        again (with the same line numbers)."""
        given_back = list(zip(self._taken[keep:], self._problems[keep:], strict=True))
        self._again.extend(reversed(given_back))
        self.count -= len(given_back)
        self._taken, self._problems = self._taken[:keep], self._problems[:keep]


_JSON_TYPES: Final[dict[type, str]] = {
    list: "an array",
    str: "a string",
    int: "a number",
    Decimal: "a number",
    float: "a number",
    bool: "a boolean",
}


def _jsonl_rows(lines: _Lines, name: str) -> Iterator[RawRow]:
    """JSON Lines: one object per physical line; blank lines skipped."""
    for line, raw, problem in _jsonl_lines(lines, name):
        yield parse_jsonl_line(line, raw, problem)


def _jsonl_lines(lines: _Lines, name: str) -> Iterator[tuple[int, str, str | None]]:
    """The non-blank lines of JSON Lines (line number, text, a problem of the line); raises when the file
    holds a JSON array instead."""
    first = True
    for _ in lines:
        raw, problem = lines.take()
        line = lines.count
        if not raw.strip():
            continue
        if first and raw.lstrip().startswith("["):
            raise InputUnusableError(f"{name}: holds a JSON array; expected JSON Lines (one object per line)")
        first = False
        yield line, raw, problem


def parse_jsonl_line(line: int, raw: str, problem: str | None = None) -> RawRow:
    """One line of a JSON Lines file parsed (numbers exact), or the reason it is not a usable object."""
    if problem:
        return RawRow(line, raw, None, problem)
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return RawRow(line, raw, None, f"not valid JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return RawRow(line, raw, None, f"values nest more than {MAX_ROW_NESTING} levels deep")
    except ValueError as exc:  # NaN / Infinity, or an integer of thousands of digits
        reason = "an integer of more than 4300 digits" if "integer string conversion" in str(exc) else str(exc)
        return RawRow(line, raw, None, f"not valid JSON: {_short(reason)}")
    if not isinstance(data, dict):
        kind = "null" if data is None else _JSON_TYPES.get(type(data), type(data).__name__)
        return RawRow(line, raw, None, f"expected a JSON object, got {kind}")
    if _too_deep(data):
        return RawRow(line, raw, None, f"values nest more than {MAX_ROW_NESTING} levels deep")
    return RawRow(line, raw, data)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _too_deep(data: Any) -> bool:
    """True when objects and arrays nest more than :data:`MAX_ROW_NESTING` levels (iterative: any depth is
    safe to ask about)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_ROW_NESTING:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _csv_rows(lines: _Lines, name: str) -> Iterator[RawRow]:
    """CSV with a header row; an empty cell means absent.

    A quoted cell may hold line breaks. A quote that is never closed would swallow the rows after it:
    a record spanning several lines whose cell count is wrong, or whose later lines are rows of the
    header's width themselves, is reported at the line of the quote, and the lines after it are read
    again as rows of their own.
    """
    reader = csv.reader(lines)
    columns = _csv_columns(reader, lines, name)
    if columns is None:
        return
    while True:
        start = lines.count + 1
        try:
            cells: list[str] | None = next(reader)
            error = None
        except StopIteration:
            return
        except csv.Error as exc:
            cells, error = None, f"not valid CSV: {exc}"
        if _unclosed_quote(cells, lines.taken(), columns):
            lines.rewind(1)
            reader = csv.reader(lines)  # a fresh parser: the given-back lines start records of their own
            raw, _ = lines.take()
            yield RawRow(start, raw, None, "a quoted cell opened on this line is never closed (a '\"' is missing); "
                       "the lines after it are read as rows of their own")
            continue
        raw, problem = lines.take()
        row = _csv_row(start, raw, cells, error or problem, columns)
        if row is not None:
            yield row


def _csv_columns(reader: Iterator[list[str]], lines: _Lines, name: str) -> list[str] | None:
    """The header's column names (an empty one named by its place); None for an empty file. A header that
    cannot be read, has an unclosed quote or names a column twice makes the file unusable."""
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        return None
    except csv.Error as exc:
        raise InputUnusableError(f"{name}:1: the CSV header cannot be read ({exc})") from exc
    if len(lines.taken()) > 1:
        raise InputUnusableError(f"{name}:1: the CSV header has a quote that is never closed")
    lines.take()
    columns = [cell or f"<column {i}>" for i, cell in enumerate(header, start=1)]
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise InputUnusableError(f"{name}:1: column {duplicates[0]!r} appears more than once in the header")
    return columns


def _unclosed_quote(cells: list[str] | None, taken: list[str], columns: list[str]) -> bool:
    """Whether the record just read began with a quote that is never closed: open at the end of the file,
    or swallowing lines that are not a cell's line breaks."""
    at_end = len(taken) == 1 and cells is not None and any("\n" in cell for cell in cells)
    return at_end or len(taken) > 1 and (cells is None or _swallowed(cells, taken, columns))


def _csv_row(start: int, raw: str, cells: list[str] | None, problem: str | None,
             columns: list[str]) -> RawRow | None:
    """The row of one record: its cells by column (empty cells left out), or its problem; None for a blank
    record. ``cells`` is None when the record is no valid CSV (``problem`` then says why)."""
    if cells is None:
        return RawRow(start, raw, None, problem)
    if not any(cell.strip() for cell in cells):
        return None
    if problem:
        return RawRow(start, raw, None, problem)
    if len(cells) != len(columns):
        return RawRow(start, raw, None, f"row has {len(cells)} cells but the header has {len(columns)}")
    data = {col: _csv_attribute(cell) if col.startswith("attributes.") else cell
            for col, cell in zip(columns, cells, strict=True) if cell.strip()}
    return RawRow(start, raw, data)


def _swallowed(cells: list[str], taken: list[str], columns: list[str]) -> bool:
    """True when a record spanning several lines is an unclosed quote, not a cell with line breaks: its
    cell count is wrong, a line break sits in a column that holds one line (only ``contact.address`` and
    ``attributes.*`` may hold several), or a later line is a row of the header's width by itself."""
    if len(cells) != len(columns):
        return True
    if any("\n" in cell and not _multiline(column) for column, cell in zip(columns, cells, strict=True)):
        return True
    if len(columns) < 3:
        return False
    for text in taken[1:]:
        try:
            alone = next(csv.reader([text]), [])
        except csv.Error:
            continue
        if len(alone) == len(columns):
            return True
    return False


def _multiline(column: str) -> bool:
    return column == "contact.address" or column.startswith("attributes.")


_INTEGER = re.compile(r"[+-]?\d+")
_MAX_DIGITS: Final = 40  # longer digit strings stay text (the record rejects numbers beyond 10^30 anyway)
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+)")


def _csv_attribute(cell: str) -> Any:
    """A free-form attribute cell typed as JSON Lines would type it: true/false, whole and decimal
    numbers; anything else stays text. So a policy decides the same whatever the file format."""
    text = cell.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INTEGER.fullmatch(text) and len(text) <= _MAX_DIGITS:
        return int(text)
    if _DECIMAL.fullmatch(text) and len(text) <= _MAX_DIGITS:
        return float(text)
    return cell


def parquet_batch_rows(batch: Any, lines: Iterable[int]) -> list[RawRow]:
    """The rows of one Parquet record batch as the row reader gives them, numbered ``lines``: each row's
    values and its JSON text; a row holding a value Python cannot represent (a date after 9999, say) comes
    with the reason instead of its values, naming the column."""
    numbers = list(lines)
    try:
        records = batch.to_pylist()
    except (ValueError, OverflowError) as exc:  # some value has no Python form: find the rows it is in
        return [_parquet_row(batch, index, line, exc) for index, line in enumerate(numbers)]
    return [RawRow(line, json.dumps(data, default=str, ensure_ascii=False), data)
            for line, data in zip(numbers, records, strict=True)]


def _parquet_row(batch: Any, index: int, line: int, cause: Exception) -> RawRow:
    readable: dict[str, Any] = {}
    unreadable: list[str] = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            readable[name] = column[index].as_py()
        except (ValueError, OverflowError):
            unreadable.append(name)
            readable[name] = "?"
    raw = json.dumps(readable, default=str, ensure_ascii=False)
    if not unreadable:
        return RawRow(line, raw, readable)
    reason = (f"{', '.join(unreadable)}: a value that cannot be read "
              f"({str(cause) or type(cause).__name__}; dates and times must lie within years 1-9999)")
    return RawRow(line, raw, None, reason)


def _parquet_rows(path: Path, name: str) -> Iterator[RawRow]:
    """Parquet, one record batch at a time; the row number stands in for the line."""
    pq, arrow_error = _pyarrow()
    number = 0
    try:
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                rows = parquet_batch_rows(batch, range(number + 1, number + 1 + batch.num_rows))
                number += batch.num_rows
                yield from rows
    except arrow_error as exc:
        raise InputUnusableError(f"{name}: Parquet read failed after row {number} ({exc})") from exc
