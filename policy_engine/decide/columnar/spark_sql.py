"""The columnar plan's statements in Spark SQL: the DuckDB SQL of :mod:`.plan`, transpiled by SQLGlot.

The plan is written once, in DuckDB's dialect. :func:`to_spark` turns one statement into what Spark runs:
the query transpiled (``sqlglot.transpile(read="duckdb", write="spark")``), and what to do with it
(:class:`SparkStatement`: a query to return, a relation to create as a temporary view, rows to append).
The few constructs SQLGlot leaves in a form Spark does not take are rewritten on the syntax tree here,
never in a second copy of the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from policy_engine._exceptions import UsageError

__all__ = ["SparkStatement", "to_spark"]

READ: Final = "duckdb"
WRITE: Final = "spark"


@dataclass(frozen=True)
class SparkStatement:
    """What one plan statement does on Spark.

    ``action`` is ``query`` (run ``sql`` and return its rows), ``table`` (``sql`` becomes the relation
    ``name``, materialised), ``view`` (the same, computed where used) or ``append`` (the rows of ``sql``
    are added to the relation ``name``) or ``drop`` (the relation ``name`` is forgotten, if it exists)."""

    action: Literal["query", "table", "view", "append", "drop"]
    sql: str
    name: str | None = None


def _sqlglot() -> tuple[Any, Any]:
    import sqlglot  # noqa: PLC0415  (only the Spark backend needs it)
    from sqlglot import expressions  # noqa: PLC0415

    return sqlglot, expressions


Columns = Callable[[str], Sequence[str]]
"""The columns of a relation the Spark session holds, by name."""

_JSON_KINDS: Final = (("STRING", "VARCHAR"), ("BOOLEAN", "BOOLEAN"), ("VOID", "NULL"), ("OBJECT", "OBJECT"),
                      ("ARRAY", "ARRAY"), ("BIGINT", "BIGINT"), ("INT", "BIGINT"), ("SMALLINT", "BIGINT"),
                      ("TINYINT", "BIGINT"), ("DECIMAL", "DOUBLE"), ("DOUBLE", "DOUBLE"), ("FLOAT", "DOUBLE"))
"""Spark's names of a variant value's type, by prefix, as the DuckDB JSON type names the plan compares."""


def _ordered_windows(node: Any) -> Any:
    """``ROW_NUMBER() OVER ()`` (any order will do) needs an order in Spark: that of a constant."""
    _, exp = _sqlglot()
    if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber) and not node.args.get("order"):
        node.set("order", exp.Order(expressions=[exp.Ordered(this=exp.Literal.number(0))]))
    return node


def _variant_path(path: str) -> str:
    """A DuckDB JSON path of one quoted key (``$."key"``) as a Spark variant path (``$['key']``)."""
    if path.startswith('$."') and path.endswith('"'):
        key = path[3:-1].replace('\\"', '"')
        return "$['" + key.replace("'", "\\'") + "']"
    return path


def _json_type(node: Any) -> Any:
    """DuckDB's ``JSON_TYPE(text, path)`` from the type of the value as Spark's variant sees it."""
    sqlglot, exp = _sqlglot()
    path = node.expression.name if isinstance(node.expression, exp.Literal) else None
    if path is None:
        raise _untranslatable(str(node), "a JSON path that is not a constant")
    value = exp.Anonymous(this="VARIANT_GET", expressions=[exp.Anonymous(this="TRY_PARSE_JSON",
                                                                        expressions=[node.this]),
                                                           exp.Literal.string(_variant_path(path))])
    spark_type = exp.Upper(this=exp.Anonymous(this="SCHEMA_OF_VARIANT", expressions=[value]))
    case = exp.Case()
    for prefix, name in _JSON_KINDS:
        case = case.when(exp.Anonymous(this="STARTSWITH", expressions=[spark_type.copy(), exp.Literal.string(prefix)]),
                         exp.Literal.string(name))
    return case


def _expand_stars(select: Any, columns: Columns) -> Any:
    """``t.* EXCLUDE (a, b)``, which Spark does not take, as the list of ``t``'s other columns."""
    _, exp = _sqlglot()
    if not isinstance(select, exp.Select):
        return select
    sources = {table.alias_or_name: table.name for table in select.find_all(exp.Table)
               if table.parent_select is select}
    projections = []
    for projection in select.expressions:
        star = projection.this if isinstance(projection, exp.Column) else None
        excluded = star.args.get("except_") or star.args.get("except") if isinstance(star, exp.Star) else None
        if not excluded:
            projections.append(projection)
            continue
        alias = projection.table
        if alias not in sources:
            raise _untranslatable(select.sql(), f"'{alias}.* EXCLUDE' over a relation that is not a table")
        dropped = {column.name.lower() for column in excluded}
        projections.extend(exp.column(name, table=alias, quoted=True) for name in columns(sources[alias])
                           if name.lower() not in dropped)
    select.set("expressions", projections)
    return select


def _portable(columns: Columns) -> Callable[[Any], Any]:
    """Rewrite the DuckDB constructs SQLGlot leaves as they are into what Spark takes."""
    _, exp = _sqlglot()

    def rewrite(node: Any) -> Any:
        node = _ordered_windows(node)
        if isinstance(node, exp.Anonymous) and node.name.upper() == "TO_SECONDS":  # an interval of N seconds
            zero = exp.Literal.number(0)
            return exp.Anonymous(this="MAKE_INTERVAL", expressions=[zero, zero, zero, zero, zero, zero,
                                                                    node.expressions[0]])
        if isinstance(node, exp.JSONType):
            return _json_type(node)
        if isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.INT128, exp.DataType.Type.UINT128):
            # HUGEINT: Spark's widest integer is DECIMAL(38, 0) (the plan's integers stay within 10^30)
            return exp.DataType.build("DECIMAL(38, 0)")
        return _expand_stars(node, columns)

    return rewrite


def _spark_query(node: Any, columns: Columns) -> str:
    return str(node.transform(_portable(columns)).sql(dialect=WRITE))


def _untranslatable(statement: str, why: str) -> UsageError:
    return UsageError(f"--backend spark cannot run the plan statement {statement[:60]!r}...: {why}; "
                      "use --backend columnar")


def to_spark(statement: str, columns: Columns) -> SparkStatement:
    """The Spark form of one DuckDB statement of the plan; ``columns`` names the columns of a relation
    the session holds (to spell out ``t.* EXCLUDE (...)``)."""
    sqlglot, exp = _sqlglot()
    try:
        tree = sqlglot.parse_one(statement, read=READ)
    except sqlglot.errors.ParseError as exc:
        raise _untranslatable(statement, str(exc)) from exc
    if isinstance(tree, exp.Create):
        name = tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name
        query = tree.expression
        if query is None:
            raise _untranslatable(statement, "it creates a relation without rows")
        if str(tree.args.get("kind", "")).upper() == "VIEW":
            return SparkStatement("view", _spark_query(query, columns), name)
        return SparkStatement("table", _spark_query(query, columns), name)
    if isinstance(tree, exp.Drop):
        tables = tree.args.get("tables") or [tree.this]
        return SparkStatement("drop", "", tables[0].name)
    if isinstance(tree, exp.Insert):
        target = tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name
        return SparkStatement("append", _spark_query(tree.expression, columns), target)
    if isinstance(tree, exp.Query):
        return SparkStatement("query", _spark_query(tree, columns))
    raise _untranslatable(statement, "it has no Spark form")
