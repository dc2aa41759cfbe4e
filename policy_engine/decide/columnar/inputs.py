"""Native readers: account and history files straight into the plan's relations, with today's rejects.

:func:`read_accounts_into` and :func:`read_history_into` fill a DuckDB table with exactly the columns of
:mod:`.schema` from a JSON Lines, CSV or Parquet file (the formats and the file checks of
:mod:`policy_engine.data.readers`), and give the same rejects as the row readers: the same rows, the same
``file:line: reason`` messages in the same order, the same unknown-fields warning, the same "no valid
account row" error.

How: rows are read in chunks of :data:`CHUNK_ROWS`. JSON Lines lines go to DuckDB as text and are parsed
there (``json_extract_string``/``json_type``); CSV records are split by Python's C parser (the one the row
reader uses, so quoting, line breaks in cells and unclosed quotes behave the same) and go to DuckDB as
cells. The conservative SQL screen of :mod:`.screen` converts every row it is sure of; every other row is
parsed and validated by the row readers' own code, which accepts it (converted like :mod:`.load` does)
or rejects it with the exact message. Parquet files are read by DuckDB (``read_parquet``) as cells
(:mod:`.parquet_cells`), and the rows the screen is not sure of come from the row reader's own Parquet
rows (:mod:`.parquet_rows`). Duplicate account ids are found in SQL, chunk by chunk, and rejected
naming the line that came first. Each chunk is staged on its own and its accepted rows join the relation
as it ends, numbered on from the rows before them (no pass over the whole relation to number it).
Memory stays bounded by the chunk size and DuckDB's memory limit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

import duckdb
import pyarrow as pa
from pydantic import BaseModel

from policy_engine._exceptions import InputUnusableError, RowError
from policy_engine.data.line_blocks import Line, jsonl_line_blocks
from policy_engine.data.readers import (
    InputSource,
    RawRow,
    Rejects,
    no_valid_account,
    open_source,
    parse_jsonl_line,
    read_accounts,
    source_rows,
    validate_row,
    warn_unknown_fields,
)
from policy_engine.data.records import NESTED_GROUPS, Account, HistoryEvent
from policy_engine.decide.columnar.load import account_batches, history_batches
from policy_engine.decide.columnar.parquet_cells import parquet_cells
from policy_engine.decide.columnar.parquet_rows import ParquetRows
from policy_engine.decide.columnar.schema import ACCOUNT_COLUMNS, HISTORY_COLUMNS, create_statement
from policy_engine.decide.columnar.screen import (
    ACCOUNT_FIELDS,
    ACCOUNT_GROUPS,
    ATTRIBUTE_KEY,
    HISTORY_FIELDS,
    Field,
    account_screen,
    history_screen,
    keys_given,
    known_zones,
)

__all__ = ["CHUNK_ROWS", "InputCounts", "InputFiles", "read_accounts_into", "read_history_into"]

CHUNK_ROWS: Final = 100_000
"""Rows screened at a time."""
SCAN_BATCH_ROWS: Final = 5_000
"""Rows per Arrow record batch of a chunk handed to DuckDB: it scans one batch per thread at a time, so a
chunk in one batch was screened on one thread (100,000 lines of a 2-core machine: 0.39 s in batches,
0.62 s in one)."""
CHUNK_TEXT: Final = 16 * 1024 * 1024
"""Characters of JSON Lines text screened at a time, at most (long account lines make smaller chunks): with
1M CN accounts, chunks of 100,000 account lines (about 50 MB of text) took the run's peak RSS to 1,001 MB;
at most 16 MiB of text, 833 MB, in about the same time."""

M = TypeVar("M", bound=BaseModel)
Relation = Literal["accounts", "history"]

# A row the screen is not sure of, in JSON Lines: an escape (the screen compares text as written), a
# trailing comma, NaN or infinity (DuckDB reads them, Python's JSON does not), an exponent, a run of 16 or
# more digits (a double could round it) or a decimal ending in 0 (DuckDB writes 1.50 back as 1.5).
_JSON_GUARD: Final = (r"\\|,\s*[}\]]|[:,\[]\s*-?(?i:nan|inf)|[0-9][eE]|[0-9][0-9.]{15,}"
                      r"|\.[0-9]*[0-9]0[^0-9]")
_ATTRIBUTE_TEXT: Final = r"[^\x00-\x1f\x7f-\x9f\x{2028}\x{2029}]{0,200}"
_ATTRIBUTE_INTEGER: Final = "0|-?[1-9][0-9]{0,14}"


@dataclass
class InputCounts:
    """What one file gave: rows accepted, rows rejected."""

    accepted: int = 0
    rejected: int = 0
    unknown: dict[str, None] = field(default_factory=dict)


@dataclass(frozen=True)
class _Kind:
    relation: Relation
    model: type[BaseModel]
    fields: tuple[Field, ...]
    columns: tuple[tuple[str, str], ...]
    groups: frozenset[str]


_ACCOUNTS: Final = _Kind("accounts", Account, ACCOUNT_FIELDS, ACCOUNT_COLUMNS, frozenset(NESTED_GROUPS))
_HISTORY: Final = _Kind("history", HistoryEvent, HISTORY_FIELDS, HISTORY_COLUMNS, frozenset())


@dataclass(frozen=True)
class InputFiles:
    """An account file and a history file the columnar plan reads natively (:meth:`load_into`).

    Iterated, it gives the valid accounts as records, read by the row reader (for any code that wants
    records), so it is an iterable of accounts like any other."""

    accounts: str
    history: str | None
    rejects: Rejects | None = None

    def __iter__(self) -> Iterator[Account]:
        return read_accounts(self.accounts, rejects=self.rejects)

    def load_into(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Fill ``history`` (empty without a history file), then ``accounts``, as the readers do: the same
        rejects in the same order."""
        if self.history is None:
            connection.execute(create_statement("history", HISTORY_COLUMNS))
        else:
            read_history_into(connection, self.history, rejects=self.rejects)
        read_accounts_into(connection, self.accounts, rejects=self.rejects)


def read_accounts_into(
    connection: duckdb.DuckDBPyConnection, path: str, *, rejects: Rejects | None = None, table: str = "accounts"
) -> InputCounts:
    """Fill ``table`` with the valid accounts of ``path``; invalid rows go to ``rejects`` (without it, the
    first raises its RowError). Raises InputUnusableError when the file cannot be used or holds no valid
    account."""
    return _read_into(connection, open_source(path), _ACCOUNTS, rejects, table)


def read_history_into(
    connection: duckdb.DuckDBPyConnection, path: str, *, rejects: Rejects | None = None, table: str = "history"
) -> InputCounts:
    """Fill ``table`` with the valid history events of ``path``; invalid rows go to ``rejects``."""
    return _read_into(connection, open_source(path), _HISTORY, rejects, table)


def _read_into(connection: duckdb.DuckDBPyConnection, source: InputSource, kind: _Kind,
               rejects: Rejects | None, table: str) -> InputCounts:
    connection.execute(f'DROP TABLE IF EXISTS "{table}"')
    connection.execute(create_statement(table, kind.columns))
    _zones_table(connection)
    if kind.relation == "accounts":
        connection.execute("CREATE OR REPLACE TEMP TABLE _seen (account_id VARCHAR, line BIGINT)")
    stage = _Stage(connection, kind, table)
    try:
        try:
            if source.kind == "parquet":
                _read_parquet(source, stage, rejects)
            else:
                for chunk in _chunks(source):
                    _screen_chunk(source, chunk, stage, rejects)
        finally:
            warn_unknown_fields(rejects, source.name, stage.counts.unknown)
        if kind.relation == "accounts" and stage.counts.accepted == 0:
            raise no_valid_account(source.name, stage.counts.rejected, rejects)
    except BaseException:
        with suppress(duckdb.Error):  # no relation from a file that cannot be used
            connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        raise
    finally:
        with suppress(duckdb.Error):
            connection.execute("DROP TABLE IF EXISTS _screened")
            connection.execute("DROP TABLE IF EXISTS _seen")
    return stage.counts


@dataclass
class _Stage:
    """Where one chunk's rows are staged (``_screened``: the relation's columns and ``passed``, the line as
    the position) before they join the relation, numbered on from the rows before them."""

    connection: duckdb.DuckDBPyConnection
    kind: _Kind
    table: str
    counts: InputCounts = field(default_factory=InputCounts)
    written: int = 0

    def begin(self) -> None:
        """An empty stage for the next chunk."""
        columns = (*self.kind.columns, ("passed", "BOOLEAN"))
        statement = create_statement("_screened", columns).replace("CREATE TABLE", "CREATE OR REPLACE TEMP TABLE", 1)
        self.connection.execute(statement)

    def screen(self, cells_sql: str) -> None:
        """Screen cells into the stage; the rows that pass are accepted."""
        screen = account_screen if self.kind.relation == "accounts" else history_screen
        self.connection.execute(f"INSERT INTO _screened {screen(cells_sql)}")
        (passed,), = self.connection.execute("SELECT count(*) FROM _screened WHERE passed").fetchall()
        self.counts.accepted += passed

    def doubtful_lines(self) -> list[int]:
        """The lines the screen did not pass, in order."""
        return [line for (line,) in self.connection.execute(
            "SELECT position FROM _screened WHERE NOT passed ORDER BY position").fetchall()]

    def flush(self) -> None:
        """Append the chunk's accepted rows to the relation, positions counted on in line order."""
        names = ", ".join(f's."{name}"' for name, _ in self.kind.columns[1:])
        # numbered over the one narrow column and joined back: a window over every column would sort them all
        self.connection.execute(
            f'INSERT INTO "{self.table}" SELECT n.number - 1 + {self.written}, {names} FROM _screened s '
            'JOIN (SELECT "position", row_number() OVER (ORDER BY "position") AS number FROM _screened '
            'WHERE passed) n ON n."position" = s."position" WHERE s.passed')
        if self.kind.relation == "accounts":
            self.connection.execute('INSERT INTO _seen SELECT account_id, "position" FROM _screened WHERE passed')
        self.written = self.counts.accepted


def _zones_table(connection: duckdb.DuckDBPyConnection) -> None:
    zones = pa.table({"zone": pa.array(known_zones(), pa.string())})
    connection.register("_zones_arrow", zones)
    connection.execute("CREATE OR REPLACE TEMP TABLE screen_zones AS SELECT zone FROM _zones_arrow")
    connection.unregister("_zones_arrow")


@dataclass
class _Chunk:
    """Rows of one chunk: JSON Lines lines for DuckDB to parse, CSV rows parsed into cells, or rows only the
    record validation reads (a line with a problem)."""

    lines: list[Line] = field(default_factory=list)
    cells: list[RawRow] = field(default_factory=list)
    validate: list[RawRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines) + len(self.cells) + len(self.validate)

    def raws(self) -> dict[int, str]:
        """The text of each row, by line."""
        return {**{line: raw for line, raw, _ in self.lines},
                **{row.line: row.raw for row in (*self.cells, *self.validate)}}


def _chunks(source: InputSource) -> Iterator[_Chunk]:
    chunk = _Chunk()
    if source.kind == "jsonl":
        text = 0
        for block in _line_blocks(source):
            text += sum(len(raw) for _, raw, _ in block)
            if all(problem is None for _, _, problem in block):  # the usual block: taken whole, not line by line
                chunk.lines.extend(block)
            else:
                for line, raw, problem in block:
                    if problem is None:
                        chunk.lines.append((line, raw, None))
                    else:
                        chunk.validate.append(RawRow(line, raw, None, problem))
            if len(chunk) >= CHUNK_ROWS or text >= CHUNK_TEXT:
                yield chunk
                chunk, text = _Chunk(), 0
    else:
        for row in source_rows(source):
            (chunk.cells if row.error is None else chunk.validate).append(row)
            if len(chunk) >= CHUNK_ROWS:
                yield chunk
                chunk = _Chunk()
    if len(chunk):
        yield chunk


def _line_blocks(source: InputSource) -> Iterator[list[Line]]:
    try:
        if source.path is None:
            yield from jsonl_line_blocks(sys.stdin.buffer, source.name)
            return
        with source.path.open("rb") as stream:
            yield from jsonl_line_blocks(stream, source.name)
    except OSError as exc:
        raise InputUnusableError(f"{source.name}: read failed ({exc.strerror or exc})") from exc


def _screen_chunk(source: InputSource, chunk: _Chunk, stage: _Stage, rejects: Rejects | None) -> None:
    """Screen one chunk, stage what passes or validates, and reject the rest in line order."""
    stage.begin()
    doubtful: list[RawRow] = list(chunk.validate)
    cells = _cells(stage.kind, chunk)
    if cells is not None:
        cells_sql, table = cells
        stage.connection.register("_chunk", table)
        try:
            stage.screen(cells_sql)
        finally:
            stage.connection.unregister("_chunk")
        doubtful.extend(_doubtful_rows(stage, chunk))
    doubtful.sort(key=lambda row: row.line)
    _settle(source, doubtful, stage, rejects, lambda lines: _texts(chunk, lines))


def _texts(chunk: _Chunk, lines: list[int]) -> list[str]:
    """The text of these lines of the chunk."""
    raws = chunk.raws() if lines else {}
    return [raws[line] for line in lines]


def _read_parquet(source: InputSource, stage: _Stage, rejects: Rejects | None) -> None:
    """A Parquet file, :data:`CHUNK_ROWS` rows at a time: DuckDB reads and screens each chunk's rows
    (:mod:`.parquet_cells`), the row reader's rows (:mod:`.parquet_rows`) go to the record validation."""
    assert source.path is not None
    with ParquetRows(source.path, source.name) as rows:
        cells = parquet_cells(stage.connection, source.path, rows.schema, stage.kind.fields, stage.kind.groups)
        done = 0
        while (end := rows.decode_to(done + CHUNK_ROWS)) > done:
            stage.begin()
            doubtful_lines: Iterable[int] = range(done + 1, end + 1)
            if cells is not None and _screened_by_duckdb(stage, cells.sql(done, end)):
                doubtful_lines = stage.doubtful_lines()
            _settle(source, rows.rows(doubtful_lines), stage, rejects,
                    lambda lines: [row.raw for row in rows.rows(lines)])
            rows.release(end)
            done = end
        if rows.failure is not None:
            raise rows.failure


def _screened_by_duckdb(stage: _Stage, cells_sql: str) -> bool:
    """Screen Parquet cells into the stage; False when DuckDB cannot read them (the row reader's rows
    then decide: they read the same or fail as the row reader fails)."""
    try:
        stage.screen(cells_sql)
    except (duckdb.OutOfMemoryException, duckdb.InterruptException):
        raise
    except duckdb.Error:
        stage.begin()
        return False
    return True


def _settle(source: InputSource, doubtful: list[RawRow], stage: _Stage, rejects: Rejects | None,
            raws_of: Callable[[list[int]], list[str]]) -> None:
    """Validate the doubtful rows of a chunk (in line order) with the row readers' code, stage the valid
    ones, find the chunk's duplicate accounts, reject the rest in line order, and append the chunk."""
    kind, counts = stage.kind, stage.counts
    records: list[tuple[int, Any]] = []
    refused: list[tuple[int, str, str]] = []
    for row in doubtful:
        parsed = parse_jsonl_line(row.line, row.raw) if row.data is None and row.error is None else row
        record, reason = validate_row(parsed, kind.model, kind.groups, counts.unknown)
        if record is None:
            refused.append((row.line, reason or "invalid row", row.raw))
        else:
            records.append((row.line, record))
    if records:
        _stage_records(stage.connection, kind, records)
        counts.accepted += len(records)
    if kind.relation == "accounts":
        found = _duplicates(stage.connection)
        for (line, account_id, first), raw in zip(found, raws_of([line for line, _, _ in found]), strict=True):
            refused.append((line, f"account_id {account_id} already appeared on line {first}", raw))
            counts.accepted -= 1
    _reject(source, sorted(refused), rejects, counts)
    stage.flush()


def _doubtful_rows(stage: _Stage, chunk: _Chunk) -> list[RawRow]:
    """The rows of the screened chunk that did not pass: the raw line for JSON Lines, the parsed row for CSV."""
    lines = stage.doubtful_lines()
    if not lines:
        return []
    if chunk.cells:
        by_line = {row.line: row for row in chunk.cells}
        return [by_line[line] for line in lines]
    return [RawRow(line, raw, None) for line, raw in zip(lines, _texts(chunk, lines), strict=True)]


def _stage_records(connection: duckdb.DuckDBPyConnection, kind: _Kind, records: list[tuple[int, Any]]) -> None:
    """Convert validated records like :mod:`.load` does, keeping their line as the position."""
    lines = [line for line, _ in records]
    batches: Iterable[pa.RecordBatch] = (account_batches(record for _, record in records)
                                         if kind.relation == "accounts"
                                         else history_batches(record for _, record in records))
    start = 0
    for batch in batches:
        positions = pa.array(lines[start:start + batch.num_rows], pa.int64())
        start += batch.num_rows
        relabelled = batch.set_column(0, batch.schema.field(0), positions)
        connection.register("_records", relabelled)
        connection.execute("INSERT INTO _screened SELECT *, true FROM _records")
        connection.unregister("_records")


def _duplicates(connection: duckdb.DuckDBPyConnection) -> list[tuple[int, str, int]]:
    """Accounts of the chunk whose id an earlier accepted row already has (taken out of the stage)."""
    found = connection.execute(
        "SELECT c.position, c.account_id, min(p.line) FROM _screened c "
        "JOIN (SELECT account_id, line FROM _seen UNION ALL "
        "      SELECT account_id, position FROM _screened WHERE passed) p "
        "ON p.account_id = c.account_id AND p.line < c.position "
        "WHERE c.passed GROUP BY c.position, c.account_id ORDER BY c.position").fetchall()
    if found:
        connection.execute("UPDATE _screened SET passed = false WHERE position IN (SELECT unnest(?))",
                           [[line for line, _, _ in found]])
    return [(int(line), str(account_id), int(first)) for line, account_id, first in found]


def _reject(source: InputSource, refused: list[tuple[int, str, str]], rejects: Rejects | None,
            counts: InputCounts) -> None:
    for line, reason, raw in refused:
        counts.rejected += 1
        error = RowError(source.name, line, reason, raw)
        if rejects is None:
            raise error
        rejects.add(error)


def _cells(kind: _Kind, chunk: _Chunk) -> tuple[str, pa.Table] | None:
    """The chunk's cells relation, if it has rows to screen: SQL over ``_chunk``, and the Arrow table to
    register as ``_chunk`` (a chunk holds JSON Lines lines or CSV rows, never both)."""
    if chunk.lines:
        lines = pa.table({"line": pa.array([line for line, _, _ in chunk.lines], pa.int64()),
                          "raw": pa.array([raw for _, raw, _ in chunk.lines], pa.string())})
        return _json_cells(kind), _in_batches(lines)
    if chunk.cells:  # CSV: nested fields are dotted columns (flags.dispute)
        return _csv_cells_sql(kind), _in_batches(_csv_cells(kind, chunk.cells))
    return None


def _in_batches(table: pa.Table) -> pa.Table:
    """The table as record batches of :data:`SCAN_BATCH_ROWS` rows, which DuckDB's threads screen in parallel."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH_ROWS), table.schema)


def _csv_cells_sql(kind: _Kind) -> str:
    """CSV cells pass the structure check when they give no column but the known fields."""
    return f"(SELECT *, coalesce(len(keys) = {keys_given(f.name for f in kind.fields)}, false) AS structure_ok " \
           f"FROM _chunk)"


def _sql_list(items: Iterable[str]) -> str:
    return "[" + ", ".join("'" + item.replace("'", "''") + "'" for item in items) + "]"


def _json_cells(kind: _Kind) -> str:
    """JSON Lines lines (``_chunk``: line, raw) as cells.

    DuckDB parses the text again at every JSON function, so each row goes through as few calls as can
    be: one ``json_valid``, then one ``json_type``, one ``json_keys`` and one ``json_extract_string``
    over lists of paths (the line itself, every field, every nested group), and ``json_extract`` of the
    attributes only where they may be mapped. The steps are not materialized: DuckDB inlines them, which
    screens 100,000 history lines in about half the time (the CASE guards still keep every JSON function
    away from a line that is not valid JSON)."""
    field_paths = [f"$.{f.key}" for f in kind.fields]
    per_field = ",\n         ".join(f"vs[{i}] AS v_{f.name}, ks[{i}] AS k_{f.name}"
                                    for i, f in enumerate(kind.fields, start=1))
    groups = (*ACCOUNT_GROUPS, "attributes") if kind.relation == "accounts" else ()
    type_paths = _sql_list(["$", *field_paths, *(f"$.{group}" for group in groups)])
    key_paths = _sql_list(["$", *(f"$.{group}" for group in groups)])
    fields = len(kind.fields)
    if kind.relation == "accounts":
        group_keys = ", ".join(f"all_keys[{i}] AS keys_{group}" for i, group in enumerate(groups, start=2))
        group_checks = " AND ".join(
            f"(gk[{i}] IS NULL OR gk[{i}] = 'NULL' OR (gk[{i}] = 'OBJECT' AND len(keys_{group}) = "
            f"{keys_given(f.name for f in kind.fields if f.group == group)}))"
            for i, group in enumerate(ACCOUNT_GROUPS, start=1))
        top_keys = (f"len(keys) = {keys_given(f.name for f in kind.fields if f.group is None)} + "
                    f"CAST(gk[1] IS NOT NULL AS INTEGER) + CAST(gk[2] IS NOT NULL AS INTEGER) + "
                    f"CAST(gk[3] IS NOT NULL AS INTEGER) + CAST(gk[4] IS NOT NULL AS INTEGER)")
        extra = f", CASE WHEN is_object THEN kinds[{fields + 2}:] END AS gk, {group_keys}"
        attribute_map, attributes = _attributes_map(), _attributes_json()
        structure = f"is_object AND {top_keys} AND {group_checks} AND attributes_json IS NOT NULL"
    else:
        extra, structure = "", f"is_object AND len(keys) = {keys_given(f.name for f in kind.fields)}"
        attribute_map, attributes = "NULL AS attribute_map", "'{}' AS attributes_json"
    return f"""(
    WITH typed AS (
        SELECT line, raw,
               CASE WHEN json_valid(raw) AND NOT regexp_matches(raw, '{_JSON_GUARD.replace("'", "''")}')
                    THEN json_type(raw, {type_paths}) END AS kinds
        FROM _chunk
    ), parsed AS (
        SELECT line, raw, kinds, coalesce(kinds[1] = 'OBJECT', false) AS is_object FROM typed
    ), listed AS (
        SELECT line, raw, kinds, is_object,
               CASE WHEN is_object THEN json_keys(raw, {key_paths}) END AS all_keys,
               CASE WHEN is_object THEN json_extract_string(raw, {_sql_list(field_paths)}) END AS vs
        FROM parsed
    ), extracted AS (
        SELECT line, raw, is_object, all_keys[1] AS keys, vs,
               CASE WHEN is_object THEN kinds[2:{fields + 1}] END AS ks{extra}
        FROM listed
    ), mapped AS (
        SELECT *, {attribute_map} FROM extracted
    ), shaped AS (
        SELECT *, {attributes} FROM mapped
    )
    SELECT line, raw, keys, {per_field},
           coalesce({structure}, false) AS structure_ok, attributes_json
    FROM shaped
)"""


def _attributes_map() -> str:
    """The attribute object as a MAP, for objects with unique keys of letters, digits and underscores."""
    keys_ok = (f"len(list_distinct(keys_attributes)) = len(keys_attributes) AND "
               f"list_bool_and(list_transform(keys_attributes, lambda k: regexp_full_match(k, '{ATTRIBUTE_KEY}')))")
    return (f"CASE WHEN is_object AND gk[4] = 'OBJECT' AND len(keys_attributes) > 0 AND {keys_ok} "
            f"THEN CAST(json_extract(raw, '$.attributes') AS MAP(VARCHAR, JSON)) END AS attribute_map")


def _attributes_json() -> str:
    """The ``attributes`` column as the record gives it (keys sorted, compact), for attribute objects of
    plain values (booleans, integers below 10^15, text without escapes); NULL for anything else."""
    value_ok = (f"lambda j: CASE json_type(j) WHEN 'BOOLEAN' THEN true "
                f"WHEN 'VARCHAR' THEN regexp_full_match(json_extract_string(j, '$'), '{_ATTRIBUTE_TEXT}') "
                f"WHEN 'UBIGINT' THEN regexp_full_match(CAST(j AS VARCHAR), '{_ATTRIBUTE_INTEGER}') "
                f"WHEN 'BIGINT' THEN regexp_full_match(CAST(j AS VARCHAR), '{_ATTRIBUTE_INTEGER}') ELSE false END")
    canonical = ("'{' || array_to_string(list_transform(list_sort(map_keys(attribute_map)), "
                 "lambda k: '\"' || k || '\":' || CAST(attribute_map[k] AS VARCHAR)), ',') || '}'")
    return f"""CASE WHEN NOT is_object THEN NULL
                WHEN gk[4] IS NULL OR gk[4] = 'NULL' THEN '{{}}'
                WHEN gk[4] = 'OBJECT' AND len(keys_attributes) = 0 THEN '{{}}'
                WHEN attribute_map IS NOT NULL AND list_bool_and(list_transform(map_values(attribute_map), {value_ok}))
                     THEN {canonical}
           END AS attributes_json"""


def _csv_cells(kind: _Kind, rows: list[RawRow]) -> pa.Table:
    """CSV rows (parsed by Python's csv module) as cells: every given cell is text."""
    data = [row.data or {} for row in rows]
    columns: dict[str, pa.Array] = {
        "line": pa.array([row.line for row in rows], pa.int64()),
        "raw": pa.array([row.raw for row in rows], pa.string()),
        "keys": pa.array([list(values) for values in data], pa.list_(pa.string())),
    }
    for f in kind.fields:
        values = [values.get(f.key) for values in data]
        columns[f"v_{f.name}"] = pa.array(values, pa.string())
        columns[f"k_{f.name}"] = pa.array(["VARCHAR" if value is not None else None for value in values], pa.string())
    columns["attributes_json"] = pa.array(["{}"] * len(rows), pa.string())
    return pa.table(columns)
