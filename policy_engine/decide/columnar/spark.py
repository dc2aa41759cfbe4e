"""``--backend spark``: the columnar plan run by Apache Spark, statement for statement.

:class:`SparkBackend` is the columnar backend with Spark in DuckDB's place: the same :class:`~.plan.Plan`,
the same sequence of statements and the same writer of decisions (:mod:`.output`); only the connection
differs. :class:`SparkConnection` takes each DuckDB statement, transpiles it with SQLGlot
(:mod:`.spark_sql`) and runs it: a ``CREATE TABLE ... AS`` becomes a temporary view over a materialised
(locally checkpointed) DataFrame, a ``CREATE VIEW`` a plain temporary view, an ``INSERT INTO`` a union, a
query a stream of rows. The small Python-built tables (calendar, hours) and the input relations become
DataFrames from their Arrow tables.

The session: ``spark.master`` / ``POLICY_ENGINE_SPARK_MASTER`` (default ``local[2]``), the session time
zone UTC (the plan's instants are UTC wall times), ANSI mode off (DuckDB's casts and overflow rules are
the plan's). An existing session (``spark-submit``, a notebook) is used as it is, with those settings made.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final

from policy_engine._exceptions import UsageError
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.columnar.backend import FETCH_ROWS, ColumnarBackend
from policy_engine.decide.columnar.load import account_batches, arrow_schema, history_batches
from policy_engine.decide.columnar.output import DecisionWriter
from policy_engine.decide.columnar.schema import ACCOUNT_COLUMNS, HISTORY_COLUMNS
from policy_engine.decide.columnar.spark_sql import to_spark
from policy_engine.decide.decision import Decision

__all__ = ["DEFAULT_MASTER", "SparkBackend", "SparkConnection", "spark_session"]

DEFAULT_MASTER: Final = "local[2]"
_SETTINGS: Final = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.caseSensitive": "false",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
}
_LOCAL_SETTINGS: Final = {  # a session this backend starts (a cluster's own session keeps its settings)
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.log.level": "ERROR",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.adaptive.enabled": "false",
}
_MISSING: Final = "--backend spark needs pyspark and Java 17: pip install 'policy-engine[spark]'"


def spark_session(master: str | None = None) -> Any:
    """The active Spark session, or a new one on ``master`` (default ``POLICY_ENGINE_SPARK_MASTER`` or
    ``local[2]``); UsageError when pyspark or Java is missing."""
    try:
        from pyspark.sql import SparkSession  # noqa: PLC0415  (only this backend needs Spark)
    except ImportError as exc:
        raise UsageError(_MISSING) from exc
    active = SparkSession.getActiveSession()
    if active is None:
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise UsageError(_MISSING + " (no java on PATH and no JAVA_HOME)")
        builder = SparkSession.builder.master(master or os.environ.get("POLICY_ENGINE_SPARK_MASTER", DEFAULT_MASTER))
        builder = builder.appName("policy-engine")
        for key, value in _LOCAL_SETTINGS.items():
            builder = builder.config(key, value)
        for key, value in _SETTINGS.items():
            builder = builder.config(key, value)
        active = builder.getOrCreate()
        active.sparkContext.setLogLevel("ERROR")
    for key, value in _SETTINGS.items():
        active.conf.set(key, value)
    return active


class _Rows:
    """The rows of one query, fetched as DuckDB's cursor gives them (``fetchmany``, ``fetchall``)."""

    def __init__(self, frame: Any | None) -> None:
        self._rows: Iterator[Any] = iter(()) if frame is None else frame.toLocalIterator()

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        """Up to ``size`` more rows."""
        chunk = []
        for row in self._rows:
            chunk.append(tuple(row))
            if len(chunk) >= size:
                break
        return chunk

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every remaining row."""
        return [tuple(row) for row in self._rows]

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        rows = self.fetchmany(1)
        return rows[0] if rows else None


class SparkConnection:
    """What the columnar backend asks of a DuckDB connection, answered by a Spark session."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._frames: dict[str, Any] = {}
        self._result: _Rows | None = None

    def execute(self, statement: str, parameters: Sequence[Any] | None = None) -> _Rows:
        """Run one plan statement (DuckDB SQL) on Spark."""
        if parameters:
            raise UsageError("--backend spark: the plan passed a parameter, which its Spark form cannot take")
        translated = to_spark(statement, self._columns)
        if translated.action == "drop":
            assert translated.name is not None
            self.unregister(translated.name)
            self._result = _Rows(None)
            return self._result
        frame = self.session.sql(translated.sql)
        if translated.action == "query":
            self._result = _Rows(frame)
            return self._result
        assert translated.name is not None
        if translated.action == "append":
            frame = self._frames[translated.name].unionByName(frame)
        if translated.action != "view":
            frame = frame.localCheckpoint(eager=True)
        self._publish(translated.name, frame)
        self._result = _Rows(None)
        return self._result

    def register(self, name: str, table: Any) -> None:
        """An Arrow table (or record batch) as the relation ``name``."""
        import pyarrow as pa  # noqa: PLC0415

        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        self._publish(name, self.session.createDataFrame(table).localCheckpoint(eager=True))

    def adopt(self, name: str, frame: Any) -> None:
        """A DataFrame of the session as the relation ``name`` (materialised once)."""
        self._publish(name, frame.localCheckpoint(eager=True))

    def unregister(self, name: str) -> None:
        """Forget the relation ``name``."""
        self._frames.pop(name, None)
        self.session.catalog.dropTempView(name)

    def cursor(self) -> SparkConnection:
        """This connection (its queries stream their rows)."""
        return self

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        """Rows of the last query."""
        return self._result.fetchmany(size) if self._result else []

    def fetchall(self) -> list[tuple[Any, ...]]:
        """The remaining rows of the last query."""
        return self._result.fetchall() if self._result else []

    def close(self) -> None:
        """Drop every relation this connection made."""
        for name in list(self._frames):
            self.unregister(name)

    def _columns(self, name: str) -> list[str]:
        frame = self._frames.get(name)
        return list(frame.columns) if frame is not None else list(self.session.table(name).columns)

    def _publish(self, name: str, frame: Any) -> None:
        self._frames[name] = frame
        frame.createOrReplaceTempView(name)


class SparkBackend(ColumnarBackend):
    """The columnar plan on Spark; decisions are written by Python (never by the plan's JSON text)."""

    def __init__(self, loaded: Any, *, master: str | None = None) -> None:
        super().__init__(loaded)
        self.master = master

    def json_lines(self, accounts: Any, events: Any, as_of: Any) -> Iterator[str] | None:
        """None: Spark's JSON text is not Python's, so the decisions are written as Decision objects."""
        return None

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[Any, str]]:
        connection = SparkConnection(spark_session(self.master))
        try:
            yield connection, ""
        finally:
            connection.close()

    def decide_views(self, as_of: datetime, accounts: str = "accounts", history: str = "history") -> Iterator[Decision]:
        """The decisions for a portfolio the session already holds: two tables or views with the columns of
        :mod:`.schema` whose every value satisfies the record rules (nothing is validated here), in input
        order (``position``)."""
        if as_of.tzinfo is None:
            raise ValueError("as_of needs a UTC offset")
        with self._session() as (connection, _):
            for relation, source, columns in (("history", history, HISTORY_COLUMNS),
                                              ("accounts", accounts, ACCOUNT_COLUMNS)):
                frame = connection.session.table(source).select(*(column for column, _ in columns))
                connection.adopt(relation, frame)
            self._run(connection, as_of)
            for _, decision in DecisionWriter(self.loaded, self.plan, as_of).decisions(connection, FETCH_ROWS):
                yield decision

    def _load(self, connection: Any, accounts: Iterable[Account], events: Iterable[HistoryEvent],
              keep_accounts: bool) -> list[Account] | None:
        """The input relations as two DataFrames, each made once from its Arrow batches."""
        kept: list[Account] | None = [] if keep_accounts else None

        def remember(stream: Iterable[Account]) -> Iterator[Account]:
            for account in stream:
                if kept is not None:
                    kept.append(account)
                yield account

        connection.register("history", _table(history_batches(events), HISTORY_COLUMNS))
        connection.register("accounts", _table(account_batches(remember(accounts)), ACCOUNT_COLUMNS))
        return kept


def _table(batches: Iterable[Any], columns: tuple[tuple[str, str], ...]) -> Any:
    import pyarrow as pa  # noqa: PLC0415

    return pa.Table.from_batches(list(batches), schema=arrow_schema(columns))
