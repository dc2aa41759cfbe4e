"""The columnar backend's entry point: load the relations into DuckDB, run the plan, stream the decisions.

DuckDB runs with a memory limit and a temporary directory to spill to, on two threads by default; the
decisions are fetched in chunks in input order and turned into the same Decision objects the row engine
makes (:mod:`.output`), never all held at once.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from policy_engine._exceptions import PlanError, UsageError
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.columnar.calendar import (
    deemed_service_table,
    zone_days_table,
    zone_instant,
    zone_offsets_table,
)
from policy_engine.decide.columnar.coverage import refuse_uncovered
from policy_engine.decide.columnar.hours_table import hours_table
from policy_engine.decide.columnar.inputs import InputFiles
from policy_engine.decide.columnar.json_lines import JsonLines
from policy_engine.decide.columnar.load import account_batches, history_batches
from policy_engine.decide.columnar.output import DecisionWriter
from policy_engine.decide.columnar.plan import Plan
from policy_engine.decide.columnar.schema import ACCOUNT_COLUMNS, HISTORY_COLUMNS, create_statement
from policy_engine.decide.decision import Decision
from policy_engine.policy.loader import LoadedPolicy

__all__ = ["ColumnarBackend", "DEFAULT_MEMORY_LIMIT", "DEFAULT_THREADS"]

DEFAULT_THREADS: Final = 2
DEFAULT_MEMORY_LIMIT: Final = "512MB"
MAX_INLINE_SPANS: Final = 400
"""Offset spans written into the plan as a CASE expression (more: a range join with ``zone_offsets``)."""
CHECKPOINT_THRESHOLD: Final = "1TB"
"""Write-ahead log size at which DuckDB checkpoints. Its default (16 MB) made the in-memory session checkpoint
and vacuum the dropped relations in the middle of the plan (0.5 s and 0.3 s in one verdict pass at 200,000
accounts); nothing of the session outlives it, so it never checkpoints."""
FETCH_ROWS: Final = 10_000
"""Rows fetched from DuckDB at a time."""
_EVALUATION_RESULTS: Final = ("verdicts", "chosen", "ready", "decided")
"""The tables :meth:`ColumnarBackend._run` leaves besides its inputs (the registered tables are replaced)."""


def _threads(value: str | None) -> int:
    """The DuckDB threads POLICY_ENGINE_DUCKDB_THREADS asks for (a whole number from 1), else the default."""
    if value is None or not value.strip():
        return DEFAULT_THREADS
    if not value.strip().isdigit() or int(value) < 1:
        raise UsageError(f"POLICY_ENGINE_DUCKDB_THREADS must be a whole number from 1, not '{value}'")
    return int(value)


def _duckdb() -> Any:
    import duckdb  # noqa: PLC0415  (only the columnar backend needs it)

    return duckdb


class ColumnarBackend:
    """One loaded policy compiled once into a :class:`Plan`; :meth:`decide` runs it over a portfolio."""

    def __init__(self, loaded: LoadedPolicy, *, threads: int | None = None, memory_limit: str | None = None,
                 temp_directory: str | None = None) -> None:
        refuse_uncovered(loaded)
        self.loaded = loaded
        self.plan = Plan(loaded)
        self.threads = threads or _threads(os.environ.get("POLICY_ENGINE_DUCKDB_THREADS"))
        self.memory_limit = memory_limit or os.environ.get("POLICY_ENGINE_DUCKDB_MEMORY", DEFAULT_MEMORY_LIMIT)
        self.temp_directory = temp_directory

    def decide(self, accounts: Iterable[Account], events: Iterable[HistoryEvent], as_of: datetime,
               keep_accounts: bool = False) -> Iterator[tuple[Account | None, Decision]]:
        """(account, decision) per account in input order; the account only with ``keep_accounts``
        (the text plan shows contact points), else None."""
        if as_of.tzinfo is None:
            raise ValueError("as_of needs a UTC offset")
        with self._session() as (connection, _):
            kept = self._load(connection, accounts, events, keep_accounts)
            self._run(connection, as_of)
            writer = DecisionWriter(self.loaded, self.plan, as_of)
            for position, decision in writer.decisions(connection, FETCH_ROWS):
                yield (kept[position] if kept is not None else None), decision

    def json_lines(self, accounts: Iterable[Account], events: Iterable[HistoryEvent],
                   as_of: datetime) -> Iterator[str] | None:
        """Each account's decision as its JSON line (``dry-run --format jsonl`` bytes, without the newline),
        written by the plan itself; None when this policy's texts need Python's writer (see
        :mod:`.json_lines`)."""
        if as_of.tzinfo is None:
            raise ValueError("as_of needs a UTC offset")
        writer = JsonLines(self.loaded, self.plan)
        if not writer.usable():
            return None
        return self._lines(writer, accounts, events, as_of)

    def _lines(self, writer: JsonLines, accounts: Iterable[Account], events: Iterable[HistoryEvent],
               as_of: datetime) -> Iterator[str]:
        with self._session() as (connection, _):
            self._load(connection, accounts, events, False)
            self._run(connection, as_of)
            yield from writer.lines(connection, as_of, FETCH_ROWS)

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[Any, str]]:
        """A DuckDB connection with the memory limit, the threads and a temporary directory to spill to."""
        duckdb = _duckdb()
        with tempfile.TemporaryDirectory(prefix="policy-engine-duckdb-", dir=self.temp_directory) as spill:
            connection = None
            try:
                connection = duckdb.connect(config={"threads": self.threads, "memory_limit": self.memory_limit,
                                                    "temp_directory": spill, "preserve_insertion_order": False,
                                                    "checkpoint_threshold": CHECKPOINT_THRESHOLD})
                connection.execute("SET enable_progress_bar = false")  # DuckDB prints it on stdout, even into a pipe
                yield connection, spill
            except duckdb.Error as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise PlanError(f"the columnar plan stopped in DuckDB: {reason} (memory limit {self.memory_limit}, "
                                f"{self.threads} threads; set POLICY_ENGINE_DUCKDB_MEMORY or "
                                "POLICY_ENGINE_DUCKDB_THREADS, or use --backend compiled)") from None
            finally:
                if connection is not None:
                    connection.close()

    # -- steps ------------------------------------------------------------------------------------------

    def _load(self, connection: Any, accounts: Iterable[Account], events: Iterable[HistoryEvent],
              keep_accounts: bool) -> list[Account] | None:
        if isinstance(accounts, InputFiles) and not keep_accounts:  # the plan reads the files itself
            accounts.load_into(connection)
            return None
        kept: list[Account] | None = [] if keep_accounts else None
        connection.execute(create_statement("history", HISTORY_COLUMNS))
        for batch in history_batches(events):
            connection.register("incoming", batch)
            connection.execute('INSERT INTO history SELECT * FROM incoming')
            connection.unregister("incoming")
        connection.execute(create_statement("accounts", ACCOUNT_COLUMNS))

        def remember(stream: Iterable[Account]) -> Iterator[Account]:
            for account in stream:
                if kept is not None:
                    kept.append(account)
                yield account

        for batch in account_batches(remember(accounts)):
            connection.register("incoming", batch)
            connection.execute('INSERT INTO accounts SELECT * FROM incoming')
            connection.unregister("incoming")
        return kept

    # -- for a day loop (the columnar simulation): inputs kept between evaluations ---------------------

    def session(self) -> contextlib.AbstractContextManager[tuple[Any, str]]:
        """A DuckDB session as :meth:`decide` opens it: (connection, spill directory); DuckDB's errors
        become one-line plan errors."""
        return self._session()

    def evaluate(self, connection: Any, as_of: datetime,
                 instants: Mapping[str, datetime] | None = None) -> DecisionWriter:
        """Run the plan at ``as_of`` over the session's ``accounts`` and ``history`` relations, keeping them;
        the writer reads the decisions (:meth:`DecisionWriter.decisions`). :meth:`clear` before the next.

        ``instants`` (zone name to instant) evaluates the accounts of each zone it names at their own
        instant instead (a simulated day at one local time in every zone: one evaluation, not one per zone);
        their decisions still carry ``as_of``."""
        self._run(connection, as_of, keep_inputs=True, instants=instants)
        return DecisionWriter(self.loaded, self.plan, as_of)

    @staticmethod
    def clear(connection: Any) -> None:
        """Drop the relations one evaluation left (all but the inputs)."""
        for relation in _EVALUATION_RESULTS:
            connection.execute(f"DROP TABLE IF EXISTS {relation}")

    def _run(self, connection: Any, as_of: datetime, keep_inputs: bool = False,
             instants: Mapping[str, datetime] | None = None) -> None:
        """Every statement of the plan at ``as_of`` over ``accounts`` and ``history``: the calendar tables,
        ``decided``, then ``verdicts`` (the inputs are dropped on the way unless ``keep_inputs``)."""
        spans, per_zone = self._calendar(connection, as_of, instants)
        self._decided(connection, as_of, spans, per_zone, keep_inputs)
        self._verdicts(connection)

    def _calendar(self, connection: Any, as_of: datetime,
                  instants: Mapping[str, datetime] | None) -> tuple[list[tuple[Any, ...]] | None, bool]:
        """Register the small tables built in Python: each zone's UTC offsets over the history, its local day
        at ``as_of`` (or its own instant), and the contact-hours verdict per hours key and channel. Gives
        the offset spans to inline (None when there are too many) and whether the zones' instants differ."""
        plan = self.plan
        zones = [row[0] for row in connection.execute(
            f"SELECT DISTINCT COALESCE(timezone, '{plan.zone}') FROM accounts").fetchall()] or [plan.zone]
        first, last = connection.execute("SELECT MIN(at_utc), MAX(at_utc) FROM history").fetchall()[0]
        moments = {zone_instant(name, as_of, instants) for name in zones} | {as_of}
        latest = max(moment.astimezone(UTC).replace(tzinfo=None) for moment in moments)
        earliest = min(moment.astimezone(UTC).replace(tzinfo=None) for moment in moments)
        offsets = zone_offsets_table(zones, first or earliest, max(last or latest, latest))
        connection.register("zone_offsets", offsets)
        connection.register("zone_days", zone_days_table(zones, as_of, instants))
        connection.execute("CREATE TABLE hours_keys AS SELECT ROW_NUMBER() OVER () AS hours_key, * FROM (SELECT "
                           "DISTINCT timezone, timezones, preferred_start, preferred_end, region FROM accounts)")
        keys = [(row[0], row[1:]) for row in connection.execute("SELECT * FROM hours_keys").fetchall()]
        channels = {spec.candidate.channel for spec in plan.candidates}
        connection.register("hours_lookup", hours_table(self.loaded, keys, channels, as_of, instants))
        spans = list(zip(*(offsets.column(name).to_pylist() for name in offsets.column_names), strict=True))
        return (spans if len(spans) <= MAX_INLINE_SPANS else None), len(moments) > 1

    def _decided(self, connection: Any, as_of: datetime, spans: list[tuple[Any, ...]] | None, per_zone: bool,
                 keep_inputs: bool) -> None:
        """``decided``, from the events and their facts; then every relation before it is dropped but the
        inputs kept on request."""
        plan = self.plan
        connection.execute(f"CREATE TABLE acct AS {plan.acct_sql()}")
        connection.execute(f"CREATE TABLE ev_base AS {plan.ev_base_sql(as_of, spans, per_zone)}")
        if plan.facts.deemed_service:
            pairs = connection.execute(f"SELECT DISTINCT {plan.calendar_sql()}, local_day FROM ev_base "
                                       "WHERE type = 'contact' AND outcome = 'sent'").fetchall()
            business_days = plan.guardrails.posted_notice_served_after_business_days or 0
            connection.register("deemed_service", deemed_service_table(pairs, business_days))
        ev = plan.ev_sql()
        ev_kind = "VIEW" if ev == plan.ev_sql_plain else "TABLE"
        connection.execute(f"CREATE {ev_kind} ev AS {ev}")
        connection.execute(f"CREATE TABLE facts AS {plan.facts.statement()}")
        if plan.facts.promises:
            relations = plan.promise_sql()
            for relation, select in relations:
                connection.execute(f"CREATE TABLE {relation} AS {select}")
            for relation, _ in relations[:-1]:  # only promise_facts is read from here on
                connection.execute(f"DROP TABLE {relation}")
        connection.execute(f"CREATE VIEW base AS {plan.base_sql()}")
        connection.execute(f"CREATE TABLE decided AS {plan.decided}")
        connection.execute("DROP VIEW base")
        connection.execute(f"DROP {ev_kind} ev")
        # decided holds all the rest reads: the memory of what came before goes back to the pool
        inputs = () if keep_inputs else ("history", "accounts")
        for relation in ("ev_base", *inputs, "facts", "promise_facts", "acct", "hours_keys"):
            connection.execute(f"DROP TABLE IF EXISTS {relation}")

    def _verdicts(self, connection: Any) -> None:
        """``verdicts``: the candidates ready with the checks that count nothing chosen, then one pass per rank
        through those that count what earlier ranks chose."""
        plan = self.plan
        connection.execute(f"CREATE TABLE ready AS {plan.ready_sql()}")
        ranks = connection.execute("SELECT COALESCE(MAX(rank), 0) FROM ready").fetchall()[0][0]
        if plan.counters():
            connection.execute(f"CREATE TABLE chosen AS {plan.empty_chosen_sql()}")
        connection.execute(f"CREATE TABLE verdicts AS {plan.settled_sql()}")
        counting = plan.counts_chosen()
        if counting:
            connection.execute(f"CREATE TABLE counted AS {plan.empty_counted_sql()}")
        for rank in range(1, ranks + 1):  # one pass per rank: the caps count what earlier ranks chose
            if plan.counters() and rank > 1:
                connection.execute(f"CREATE OR REPLACE TABLE chosen AS {plan.chosen_sql()}")
            for statement in plan.pass_statements(rank):
                connection.execute(statement)
        if counting:  # the texts of the verdicts the counting checks gave, written once for every rank
            connection.execute(f"INSERT INTO verdicts {plan.counted_texts_sql()}")
            connection.execute("DROP TABLE counted")
        connection.execute("DROP TABLE ready")
