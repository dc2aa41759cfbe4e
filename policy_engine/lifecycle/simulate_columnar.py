"""Simulate with the columnar plan: one plan evaluation per simulated day for the whole portfolio.

The rules and the output are those of :func:`policy_engine.lifecycle.simulate.simulate` (its module
docstring says how input events, payments and contacts are applied); only the way there differs:

* the accounts go once into DuckDB (``sim_accounts``, with their input positions), and the input events
  before the start into ``history``;
* each simulated day, the input events that took effect are appended to ``history`` and the accounts a
  payment changed are rewritten; then one plan evaluation decides every account at its own evaluation
  instant (local ``at`` on the day, in its own zone);
* the contacts the day's decisions make (or find recorded in the input) are appended to ``history``
  before the next day, after the day's arrivals, as the row engine appends them to each account's
  history: events at the same instant keep the same order in both.

What is held: in Python, each account's record (as read and as payments left it), its input events from
the start on that have not arrived yet, and its payments so far; in DuckDB, the history and every
evaluation made. The evaluations (decision, contacts, arrived events, and the record when payments
changed it) wait, pickled, in the DuckDB table ``sim_steps`` (spilled to the session's temporary
directory beyond DuckDB's memory limit) until the last day is decided; they are then read back account by
account in input order, each account's days in order, a chunk at a time.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import pyarrow as pa

from policy_engine.data.history import HistoryIndex
from policy_engine.data.records import Account, HistoryEvent
from policy_engine.decide.columnar.backend import FETCH_ROWS, ColumnarBackend
from policy_engine.decide.columnar.load import account_batches, history_batches
from policy_engine.decide.columnar.schema import ACCOUNT_COLUMNS, HISTORY_COLUMNS, create_statement
from policy_engine.decide.engine import Engine
from policy_engine.lifecycle.simulate import SimEvent, arrivals, make_contacts, split_at_start, with_payments

__all__ = ["simulate_columnar"]

STEPS_PER_INSERT: Final = 10_000
"""Pickled evaluations gathered in Python before they go into ``sim_steps``."""


@dataclass
class _Track:
    """One account through the simulation: its record, its zone and the input events still to come."""

    account: Account
    zone: ZoneInfo
    zone_name: str
    pending: list[HistoryEvent]
    state: Account
    payments: list[HistoryEvent] = field(default_factory=list)
    arrived: tuple[HistoryEvent, ...] = ()


class _History:
    """The session's ``history`` relation, appended to in the row engine's order (positions keep counting)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.count = 0
        connection.execute(create_statement("history", HISTORY_COLUMNS))

    def append(self, events: list[HistoryEvent]) -> None:
        """Append events after every event appended before (their positions follow)."""
        if not events:
            return
        for batch in history_batches(events):
            self.connection.register("incoming", batch)
            self.connection.execute(f"INSERT INTO history SELECT * REPLACE (position + {self.count} AS position) "
                                    "FROM incoming")
            self.connection.unregister("incoming")
            self.count += batch.num_rows


class _Steps:
    """The ``sim_steps`` table: every evaluation, pickled, keyed by (account position, day)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.rows: list[tuple[int, int, bytes]] = []
        connection.execute("CREATE TABLE sim_steps (position BIGINT, day INTEGER, payload BLOB)")

    def add(self, position: int, day: int, payload: tuple[Any, ...]) -> None:
        """Keep one evaluation."""
        self.rows.append((position, day, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)))
        if len(self.rows) >= STEPS_PER_INSERT:
            self.flush()

    def flush(self) -> None:
        """Write the gathered evaluations into the table."""
        if not self.rows:
            return
        positions, days, payloads = zip(*self.rows, strict=True)
        self.connection.register("incoming", pa.table({"position": pa.array(positions, pa.int64()),
                                                       "day": pa.array(days, pa.int32()),
                                                       "payload": pa.array(payloads, pa.binary())}))
        self.connection.execute("INSERT INTO sim_steps SELECT * FROM incoming")
        self.connection.unregister("incoming")
        self.rows = []

    def in_account_order(self) -> Iterator[tuple[int, int, tuple[Any, ...]]]:
        """(position, day, payload) of every evaluation, account by account, each account's days in order."""
        self.flush()
        cursor = self.connection.cursor()
        cursor.execute("SELECT position, day, payload FROM sim_steps ORDER BY position, day")
        while chunk := cursor.fetchmany(FETCH_ROWS):
            for position, day, payload in chunk:
                yield position, day, pickle.loads(payload)  # noqa: S301  (written by this session)
        cursor.close()


def _tracks(engine: Engine, accounts: Iterable[Account], history: HistoryIndex, start: date,
            loaded: _History) -> list[_Track]:
    """Every account, in input order, with its input events split at the start (the earlier ones loaded)."""
    tracks: list[_Track] = []
    earlier: list[HistoryEvent] = []
    policy_zone = engine.policy.policy.timezone or "UTC"
    for account in accounts:
        zone = engine.zone_of(account)
        before, pending = split_at_start(history.for_account(account.account_id), start, zone)
        earlier.extend(before)
        if len(earlier) >= FETCH_ROWS:
            loaded.append(earlier)
            earlier = []
        tracks.append(_Track(account, zone, account.timezone or policy_zone, pending, account))
    loaded.append(earlier)
    return tracks


def _load_accounts(connection: Any, tracks: list[_Track]) -> None:
    connection.execute(create_statement("sim_accounts", ACCOUNT_COLUMNS))
    for batch in account_batches(track.account for track in tracks):
        connection.register("incoming", batch)
        connection.execute("INSERT INTO sim_accounts SELECT * FROM incoming")
        connection.unregister("incoming")


def _rewrite_accounts(connection: Any, changed: list[tuple[int, Account]]) -> None:
    """Replace the records of the accounts a payment changed (their positions kept)."""
    if not changed:
        return
    batches = list(account_batches(state for _, state in changed))
    table = pa.Table.from_batches(batches)
    table = table.set_column(0, "position", pa.array([position for position, _ in changed], pa.int64()))
    connection.register("incoming", table)
    connection.execute("DELETE FROM sim_accounts WHERE position IN (SELECT position FROM incoming)")
    connection.execute("INSERT INTO sim_accounts SELECT * FROM incoming")
    connection.unregister("incoming")


def _arrive(tracks: list[_Track], local_day: date, at: time, history: _History,
            connection: Any) -> None:
    """The input events that took effect by each account's evaluation instant: into ``history``, and their
    payments into the account's record."""
    arrived_events: list[HistoryEvent] = []
    changed: list[tuple[int, Account]] = []
    for position, track in enumerate(tracks):
        arrived, track.pending = arrivals(track.pending, datetime.combine(local_day, at, tzinfo=track.zone))
        track.arrived = tuple(arrived)
        if not arrived:
            continue
        arrived_events.extend(arrived)
        paid = [event for event in arrived if event.type == "payment"]
        if paid:
            track.payments.extend(paid)
            state = with_payments(track.account, track.payments)
            if state is not track.state:
                track.state = state
                changed.append((position, state))
    history.append(arrived_events)
    _rewrite_accounts(connection, changed)


def _instants(zones: dict[str, ZoneInfo], local_day: date, at: time) -> dict[str, datetime]:
    """Each zone's evaluation instant on the day: local ``at`` there."""
    return {name: datetime.combine(local_day, at, tzinfo=zone) for name, zone in zones.items()}


def simulate_columnar(engine: Engine, accounts: Iterable[Account], history: HistoryIndex, start: date,
                      days: int, at: time) -> Iterator[SimEvent]:
    """The SimEvents of :func:`~policy_engine.lifecycle.simulate.simulate` for an engine on the columnar
    backend: one plan evaluation per simulated day, for the whole portfolio."""
    backend = engine.portfolio_backend
    if not isinstance(backend, ColumnarBackend):
        raise ValueError(f"simulate_columnar needs an engine on the columnar backend, not '{engine.backend}'")
    with backend.session() as (connection, _):
        loaded = _History(connection)
        tracks = _tracks(engine, accounts, history, start, loaded)
        if not tracks:
            return
        _load_accounts(connection, tracks)
        connection.execute("CREATE VIEW accounts AS SELECT * FROM sim_accounts")
        steps = _Steps(connection)
        zones = {track.zone_name: track.zone for track in tracks}
        for day in range(days):
            local_day = start + timedelta(days=day)
            _arrive(tracks, local_day, at, loaded, connection)
            made: list[HistoryEvent] = []
            instants = _instants(zones, local_day, at)
            writer = backend.evaluate(connection, min(instants.values()), instants)
            for position, decision in writer.decisions(connection, FETCH_ROWS):
                track = tracks[position]
                decision.as_of = instants[track.zone_name]
                contacts = make_contacts(engine, track.account.account_id, decision, track.pending, track.zone)
                made.extend(contact.event for contact in contacts)
                state = None if track.state is track.account else track.state
                steps.add(position, day, (state, decision, tuple(contacts), track.arrived))
            backend.clear(connection)
            loaded.append(made)
        connection.execute("DROP VIEW accounts")
        connection.execute("DROP TABLE history")
        connection.execute("DROP TABLE sim_accounts")
        for position, day, (state, decision, contacts, arrived) in steps.in_account_order():
            track = tracks[position]
            local_day = start + timedelta(days=day)
            yield SimEvent(state or track.account, day, local_day, decision.as_of, decision, contacts, arrived)
