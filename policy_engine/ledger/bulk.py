"""Many rows in few statements: the ledger's batch reads and writes as plain driver statements.

PostgreSQL gets one statement per batch whatever its size: the rows travel as one JSON parameter, read on
the server by ``json_to_recordset``, and key lists as one array (``= ANY``). The text stays the same for
every batch size, so the driver prepares it once and the planner sees one parameter, not hundreds; the
batch is one round trip; and the client's work is one ``json.dumps`` in C, where an ``executemany`` (or an
array per column) costs the driver's Python work for every row or value. SQLite, in the same process,
takes ``executemany`` and IN lists, which cost it little.

Column values are text unless ``types`` names another PostgreSQL type (``int``); a JSON column travels as
its text and is cast on the server, so both backends store the same characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

__all__ = ["insert_rows", "rows_where_in", "update_by_id"]

SQLITE_IN_LIMIT = 500
"""Keys in one SQLite IN list, at most (SQLite bounds the parameters of a statement)."""


def rows_where_in(conn: sa.Connection, table: str, columns: str, column: str, values: Sequence[Any], *,
                  lock: str = "") -> list[Any]:
    """The ``columns`` of the rows of ``table`` whose ``column`` is one of ``values``. On PostgreSQL the
    rows are locked as ``lock`` says (``FOR UPDATE``...); on SQLite the transaction's write lock holds
    them already and ``lock`` does not apply."""
    if not values:
        return []
    if _postgresql(conn):
        return list(conn.exec_driver_sql(f"SELECT {columns} FROM {table} WHERE {column} = ANY(%s) {lock}",
                                         (list(values),)))
    rows: list[Any] = []
    for part in _chunks(values, SQLITE_IN_LIMIT):
        marks = ", ".join("?" * len(part))
        rows += conn.exec_driver_sql(f"SELECT {columns} FROM {table} WHERE {column} IN ({marks})", tuple(part))
    return rows


def insert_rows(conn: sa.Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                types: Mapping[str, str] | None = None, json_columns: Sequence[str] = (),
                on_conflict: str = "") -> None:
    """Insert ``rows`` (values in the order of ``columns``); ``on_conflict`` is the statement's
    ``ON CONFLICT ...`` clause, if any (both backends speak it)."""
    if not rows:
        return
    names = ", ".join(columns)
    if _postgresql(conn):
        values = ", ".join(f"{column}::json" if column in json_columns else column for column in columns)
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) SELECT {values} FROM "
                             f"json_to_recordset(%s::json) AS v({_record_type(columns, types)}) {on_conflict}",
                             (_rows_json(columns, rows),))
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", [tuple(row) for row in rows])


def update_by_id(conn: sa.Connection, table: str, assignments: Mapping[str, str], rows: Sequence[Sequence[Any]], *,
                 types: Mapping[str, str] | None = None) -> None:
    """Update rows by ``id``. ``assignments`` maps a column to its new value as SQL, where ``{new}`` is the
    value given (``"COALESCE({new}, delivered_at)"``; an assignment without ``{new}`` takes no value).
    Each row gives the id, then the values of the assignments that take one, in their order."""
    if not rows:
        return
    taking = [column for column, sql in assignments.items() if "{new}" in sql]
    if _postgresql(conn):
        sets = ", ".join(f"{column} = {sql.format(new=f'v.new_{column}')}" for column, sql in assignments.items())
        fields = ["id"] + [f"new_{column}" for column in taking]
        kinds = {"id": "int", **{f"new_{column}": kind for column, kind in (types or {}).items()}}
        conn.exec_driver_sql(f"UPDATE {table} SET {sets} FROM json_to_recordset(%s::json) AS "
                             f"v({_record_type(fields, kinds)}) WHERE {table}.id = v.id", (_rows_json(fields, rows),))
        return
    sets = ", ".join(f"{column} = {sql.format(new='?')}" for column, sql in assignments.items())
    conn.exec_driver_sql(f"UPDATE {table} SET {sets} WHERE id = ?", [(*row[1:], row[0]) for row in rows])


def _record_type(columns: Sequence[str], types: Mapping[str, str] | None) -> str:
    return ", ".join(f"{column} {(types or {}).get(column, 'text')}" for column in columns)


def _rows_json(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The rows as a JSON array of objects (what ``json_to_recordset`` reads); values not JSON-native
    (a date, a Decimal) as their text, like the ledger's JSON columns."""
    return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str, ensure_ascii=False)


def _postgresql(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
