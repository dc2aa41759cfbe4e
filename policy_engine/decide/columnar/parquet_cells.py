"""Parquet columns as the cells of the conservative screen (:mod:`.screen`), read by DuckDB's ``read_parquet``.

A Parquet file's columns and types are known before a row is read, so which column feeds which field is
decided once, in Python, from the file's Arrow schema: the types pyarrow gives the row reader its values
in. A column gives the kind of the JSON value that the row reader would see as the same Python value:
text ``VARCHAR``, booleans ``BOOLEAN``, integers ``UBIGINT``/``BIGINT``, decimals of at most six places
``DOUBLE`` (a Decimal, as a JSON number with a fraction is). Dates give ``DATE`` and UTC timestamps
``TIMESTAMP``, which only the date and instant rules accept. Any other type (floats, lists, maps, binary,
timestamps in another zone or without one, decimals of more places, ...) gives a kind no rule accepts, so
its rows go to the record validation. Nested groups are struct columns or dotted columns
(``flags.dispute``), as the row reader nests them; a value no screened field takes (an unknown column, an
unknown key of a group, ``timezones``, ``preferred_hours``) must be null for the row to pass. Attributes
pass as a struct of booleans, integers and plain text. When the names leave any doubt (two columns whose
names differ only in case, a group both as a struct and as dotted columns, a column DuckDB names
otherwise), :func:`parquet_cells` gives None and every row goes to the record validation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from policy_engine.decide.columnar.screen import ATTRIBUTE_KEY, Field
from policy_engine.guardrails.sql import name as sql_name
from policy_engine.guardrails.sql import text as sql_text

__all__ = ["ParquetCells", "parquet_cells"]

_ROW_NUMBER: Final = "file_row_number"
_UTC_NAMES: Final = frozenset({"UTC", "Etc/UTC", "+00:00"})
_MAX_PLACES: Final = 6
"""Decimals of more places may print in exponent form as Python text (``1E-7``), unlike DuckDB's."""
_ATTRIBUTE_TEXT: Final = r'[^\x00-\x1f\x7f-\x9f\x{2028}\x{2029}"\\]{0,200}'
"""Attribute text JSON writes as it is: no control character, quote or backslash to escape."""
_INSTANT_TEXT: Final = "'%Y-%m-%dT%H:%M:%S.%fZ'"


@dataclass(frozen=True)
class ParquetCells:
    """The cells of a Parquet file's rows, as SQL over ``read_parquet`` (:meth:`sql`)."""

    path: str
    columns: str

    def sql(self, first: int, end: int) -> str:
        """The cells of the rows numbered ``first + 1`` to ``end`` (DuckDB reads only their row groups)."""
        return (f"(SELECT {self.columns}\n FROM read_parquet({sql_text(self.path)}, file_row_number = true)\n"
                f" WHERE {_ROW_NUMBER} >= {first} AND {_ROW_NUMBER} < {end})")


@dataclass(frozen=True)
class _Column:
    """A value a row may give: the SQL reading it and its Arrow type."""

    sql: str
    type: pa.DataType


def parquet_cells(connection: duckdb.DuckDBPyConnection, path: Path, schema: pa.Schema,
                  fields: tuple[Field, ...], groups: frozenset[str]) -> ParquetCells | None:
    """The cells of the file at ``path`` with this Arrow schema for the screen of ``fields``, or None
    when no row should pass it (names in doubt, a path DuckDB would read as a pattern)."""
    where = str(path.resolve())
    if re.search(r"[*?\[\]{}]", where) or not _named_alike(connection, where, schema):
        return None
    values = _values(schema, groups)
    if values is None:
        return None
    by_key = {field.key: field for field in fields}
    parts = [f"{_ROW_NUMBER} + 1 AS line"]
    for field in fields:
        column = values.get(field.key)
        kind, text = _kind_and_text(column) if column is not None else ("NULL", "NULL")
        parts.append(f"CAST({text} AS VARCHAR) AS v_{field.name}, {kind} AS k_{field.name}")
    attributes = {key.partition(".")[2]: column for key, column in values.items()
                  if key.startswith("attributes.") and "attributes" in groups}
    loose = [f"{column.sql} IS NULL" for key, column in values.items()
             if key not in by_key and not (key.startswith("attributes.") and "attributes" in groups)]
    attributes_json = _attributes_json(attributes)
    parts.append(f"{attributes_json} AS attributes_json")
    parts.append(f"{' AND '.join([*loose, f'{attributes_json} IS NOT NULL'])} AS structure_ok")
    return ParquetCells(where, ",\n        ".join(parts))


def _named_alike(connection: duckdb.DuckDBPyConnection, path: str, schema: pa.Schema) -> bool:
    """True when DuckDB names the file's columns as pyarrow does, and no two names differ only in case."""
    names = list(schema.names)
    if len({name.lower() for name in [*names, _ROW_NUMBER]}) != len(names) + 1:
        return False
    try:
        described = connection.execute(
            f"DESCRIBE SELECT * FROM read_parquet({sql_text(path)}, file_row_number = true)").fetchall()
    except duckdb.Error:
        return False
    return [row[0] for row in described] == [*names, _ROW_NUMBER]


def _values(schema: pa.Schema, groups: frozenset[str]) -> dict[str, _Column] | None:
    """Every value a row may give, by its key once the row reader nested it (``contact.phone``)."""
    values: dict[str, _Column] = {}
    dotted: set[str] = set()
    for field in schema:
        head = field.name.partition(".")[0]
        if field.name in groups and pa.types.is_struct(field.type):
            children = [field.type.field(index) for index in range(field.type.num_fields)]
            if len({child.name.lower() for child in children}) != len(children):
                return None
            for child in children:
                access = f"struct_extract({sql_name(field.name)}, {sql_text(child.name)})"
                values[f"{field.name}.{child.name}"] = _Column(access, child.type)
            continue
        if "." in field.name and head in groups:
            dotted.add(head)
        values[field.name] = _Column(sql_name(field.name), field.type)
    if dotted & set(schema.names) or len(values) != sum(_given(field, groups) for field in schema):
        return None  # a group given twice, or a key given by two columns: the row reader's order decides
    return values


def _given(field: pa.Field, groups: frozenset[str]) -> int:
    if field.name in groups and pa.types.is_struct(field.type):
        return int(field.type.num_fields)
    return 1


def _kind_and_text(column: _Column) -> tuple[str, str]:
    """The screen's kind of the column's values (NULL where null) and their text, as SQL."""
    value, arrow = column.sql, column.type
    if pa.types.is_dictionary(arrow):
        arrow = arrow.value_type
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        kind = "'VARCHAR'"
    elif pa.types.is_boolean(arrow):
        kind = "'BOOLEAN'"
    elif pa.types.is_integer(arrow):
        return f"CASE WHEN {value} >= 0 THEN 'UBIGINT' WHEN {value} < 0 THEN 'BIGINT' END", value
    elif pa.types.is_decimal128(arrow) and 0 <= arrow.scale <= _MAX_PLACES:
        kind = "'DOUBLE'"
    elif pa.types.is_date32(arrow):
        kind = "'DATE'"
    elif pa.types.is_timestamp(arrow) and arrow.tz in _UTC_NAMES and arrow.unit != "ns":
        text = f"strftime(make_timestamp(epoch_us({value})), {_INSTANT_TEXT})"
        return f"CASE WHEN {value} IS NOT NULL THEN 'TIMESTAMP' END", text
    else:
        return f"CASE WHEN {value} IS NOT NULL THEN 'OTHER' END", "NULL"
    return f"CASE WHEN {value} IS NOT NULL THEN {kind} END", value


def _attributes_json(attributes: dict[str, _Column]) -> str:
    """The ``attributes`` column as the record gives it (keys sorted, compact), for attributes of booleans,
    integers and plain text; NULL when any value is another."""
    conditions: list[str] = []
    parts = []
    for key in sorted(attributes):
        column = attributes[key]
        value, arrow = column.sql, column.type
        if pa.types.is_dictionary(arrow):
            arrow = arrow.value_type
        label = sql_text(f'"{key}":')
        if not re.fullmatch(ATTRIBUTE_KEY, key):
            conditions.append(f"{value} IS NULL")
        elif pa.types.is_boolean(arrow):
            parts.append(f"{label} || CASE WHEN {value} THEN 'true' WHEN NOT {value} THEN 'false' END")
        elif pa.types.is_integer(arrow):
            parts.append(f"{label} || CAST({value} AS VARCHAR)")
        elif pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
            conditions.append(f"({value} IS NULL OR regexp_full_match({value}, {sql_text(_ATTRIBUTE_TEXT)}))")
            parts.append(f"{label} || '\"' || {value} || '\"'")
        else:
            conditions.append(f"{value} IS NULL")
    joined = f"'{{' || concat_ws(',', {', '.join(parts)}) || '}}'" if parts else "'{}'"
    return f"CASE WHEN {' AND '.join(conditions)} THEN {joined} END" if conditions else joined
