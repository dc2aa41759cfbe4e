"""The ledger: decisions, dispatch claims, delivery attempts and history, in one SQL database.

Exactly-once rests on two rules. A dispatch row's ``idempotency_key`` is UNIQUE, and a row moves to
``sending`` only inside a committed transaction that found it claimable (SQLite: the write lock is taken
at BEGIN; PostgreSQL: the rows are locked ``FOR UPDATE``, rows another run holds are skipped), so two runs
can never both own it. The owner's ``claim_token`` must still match when it records the result, so a
run that lost its claim (because it was presumed dead) cannot overwrite the run that took over.

Dispatch works in batches: :meth:`Ledger.record_decisions`, :meth:`Ledger.claim_many` and
:meth:`Ledger.finish_many` each take many rows in one transaction, and :meth:`Ledger.write_cycle` does all
three in one (a dispatch loop's cycle: one commit); the single-row methods are the same operations on one
row. Database errors, in reads and in transactions, become :class:`LedgerError` with
one line and never the statement's parameters (customer data).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from policy_engine._exceptions import LedgerError
from policy_engine.ledger import schema
from policy_engine.ledger.bulk import insert_rows, rows_where_in, update_by_id
from policy_engine.ledger.clock import parse_instant, utc_iso, utc_now
from policy_engine.ledger.migrations import migrate
from policy_engine.ledger.schema import ACCOUNT_ID_MAX

__all__ = [
    "ACCOUNT_ID_MAX",
    "DEFAULT_URL",
    "INTERRUPTED",
    "Attempt",
    "Claim",
    "ClaimOutcome",
    "CycleOutcome",
    "Finish",
    "Ledger",
    "open_ledger",
    "safe_url",
    "worker_identity",
]

DEFAULT_URL = "sqlite:///policy-engine.db"
INTERRUPTED = (
    "interrupted: the process sending it stopped before recording the result, and the channel's provider "
    "cannot deduplicate by key, so it was not re-sent; check with the provider, then requeue it or leave it"
)
HISTORY_FIELDS = ("account_id", "at", "type", "channel", "outcome", "action", "notice")
DECISION_COLUMNS = ("account_id", "as_of", "policy_digest", "policy_id", "policy_version", "body", "recorded_at")
PENDING_COLUMNS = ("idempotency_key", "decision_id", "account_id", "action", "channel", "template", "notice",
                   "send_at", "not_after", "state", "attempts", "created_at", "updated_at")
ATTEMPT_COLUMNS = ("dispatch_id", "idempotency_key", "attempt", "status", "provider_id", "detail", "started_at",
                   "finished_at")
HISTORY_COLUMNS = ("account_id", "at", "at_utc", "type", "channel", "outcome", "action", "notice", "idempotency_key",
                   "body")
FINISH_ASSIGNMENTS = {
    "state": "{new}", "last_error": "{new}", "failure": "{new}", "attempts": "{new}", "updated_at": "{new}",
    "lease_until": "NULL", "delivered_at": "COALESCE({new}, delivered_at)",
    "provider_id": "COALESCE({new}, provider_id)", "claim_token": "{new}",
}
"""How a result updates its dispatch row: an earlier delivery time or provider id is kept."""


def worker_identity() -> str:
    """``host:pid:random``: names the process holding a claim, so a rerun can tell if it died."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _process_is_dead(claimed_by: str | None) -> bool:
    """True only when the claim was made on this host by a process that no longer exists."""
    if not claimed_by:
        return False
    parts = claimed_by.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class Claim:
    """Ownership of one dispatch row while it is being sent."""

    dispatch_id: int
    idempotency_key: str
    token: str
    attempts: int
    resumed: bool = False


@dataclass(frozen=True)
class ClaimOutcome:
    """The result of trying to claim: a Claim, or the state that prevented it and why.

    ``failure`` is the failure class of a ``failed_permanent`` row; ``fresh`` says the row was held
    (``interrupted``) by this very claim, not in an earlier run.
    """

    claim: Claim | None
    state: str
    reason: str = ""
    failure: str | None = None
    fresh: bool = False


@dataclass(frozen=True)
class Attempt:
    """One send attempt, as the attempt log keeps it."""

    status: str
    provider_id: str | None
    detail: str | None
    started: datetime
    finished: datetime | None = None


@dataclass(frozen=True)
class Finish:
    """The result of a claimed dispatch row: its final state, its attempts and its history event.

    ``state`` ``pending`` releases the claim unsent (a paused channel, a closed window).
    """

    claim: Claim
    state: str
    provider_id: str | None = None
    error: str | None = None
    event: Mapping[str, Any] | None = None
    failure: str | None = None
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True)
class CycleOutcome:
    """What :meth:`Ledger.write_cycle` committed: the dispatch ids whose results were recorded (a claim
    lost to another run is not among them), the ids of the decisions stored, in order, and each claim's
    outcome."""

    recorded: set[int]
    decision_ids: list[int]
    claims: dict[str, ClaimOutcome]


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Ledger:
    """A ledger database. Open with :func:`open_ledger` (or ``Ledger.open``); close when done."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self.url = safe_url(engine.url.render_as_string(hide_password=False))
        """The ledger's URL, fit to print (password hidden)."""
        self.schema_version = migrate(engine)

    @classmethod
    def open(
        cls, url: str = DEFAULT_URL, *, schema_name: str | None = None, clock: Callable[[], datetime] = utc_now
    ) -> Ledger:
        """Open (and migrate) the ledger at a SQLAlchemy URL; ``schema_name`` selects a PostgreSQL schema."""
        url = _normalise_url(url)
        try:
            engine = _make_engine(url, schema_name)
            ledger = cls(engine, clock=clock)
            ledger.url = safe_url(url)
            return ledger
        except (sa.exc.SQLAlchemyError, ValueError) as exc:  # a refusal or a malformed URL; a missing driver raises
            raise LedgerError(f"cannot open the ledger at {safe_url(url)}: {_one_line(exc)}") from exc

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return utc_iso(self.clock())

    # -- decisions -------------------------------------------------------------------------------

    def record_decision(self, decision: Mapping[str, Any]) -> int:
        """Store a decision and a ``pending`` dispatch row per action (both only once); returns its id."""
        return self.record_decisions([decision])[0]

    def record_decisions(self, decisions: Sequence[Mapping[str, Any]]) -> list[int]:
        """Store decisions and a ``pending`` row per action, each only once, in one transaction; returns
        the decision ids in order.

        Concurrent runs may record the same decision: the insert does nothing on conflict (``uq_decision``,
        the idempotency key) and the row already there is used, so neither run fails.
        """
        if not decisions:
            return []
        with self._begin() as conn:
            return self._record_decisions(conn, decisions)

    def _record_decisions(self, conn: sa.Connection, decisions: Sequence[Mapping[str, Any]]) -> list[int]:
        now = self._now()
        keys = [_decision_key(decision) for decision in decisions]
        rows = []
        for decision, key in zip(decisions, keys, strict=True):
            policy = decision.get("policy") or {}
            rows.append((key["account_id"], key["as_of"], key["policy_digest"], str(policy.get("id") or ""),
                         str(policy.get("version") or ""), _json(decision), now))
        # rows go in key order: two runs recording the same decisions each wait for the other's rows in
        # one order only, so neither can hold a row the other waits for while it waits (no deadlock)
        insert_rows(conn, "decisions", DECISION_COLUMNS, sorted(rows, key=lambda row: (row[0], row[1], row[2])),
                    json_columns=("body",), on_conflict="ON CONFLICT (account_id, as_of, policy_digest) DO NOTHING")
        found: dict[tuple[str, str, str], int] = {}
        accounts = sorted({key["account_id"] for key in keys})
        for row in rows_where_in(conn, "decisions", "id, account_id, as_of, policy_digest", "account_id",
                                  accounts):
            found[(row.account_id, row.as_of, row.policy_digest)] = int(row.id)
        ids = [found[(key["account_id"], key["as_of"], key["policy_digest"])] for key in keys]
        pending = [
            _pending_row(decision_id, key["account_id"], action, now)
            for decision, key, decision_id in zip(decisions, keys, ids, strict=True)
            for action in decision.get("actions") or []
        ]
        pending.sort(key=lambda row: row["idempotency_key"])  # key order, as the decisions above
        insert_rows(conn, "dispatches", PENDING_COLUMNS, [tuple(row[c] for c in PENDING_COLUMNS) for row in pending],
                    types={"decision_id": "int", "attempts": "int"},
                    on_conflict="ON CONFLICT (idempotency_key) DO NOTHING")
        return ids

    def iter_decisions(self, account_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every recorded decision (or one account's), oldest first, as the engine produced it."""
        query = sa.select(schema.decisions.c.body).order_by(schema.decisions.c.id)
        if account_id is not None:
            query = query.where(schema.decisions.c.account_id == account_id)
        for row in self._read(query):
            yield dict(row.body)

    # -- dispatch claims -------------------------------------------------------------------------

    def claim(
        self, idempotency_key: str, *, worker: str, lease_seconds: float = 600.0, resend_crashed: bool
    ) -> ClaimOutcome:
        """Try to own one dispatch row for sending (see :meth:`claim_many` for the rules)."""
        found = self.claim_many([idempotency_key], worker=worker, lease_seconds=lease_seconds,
                                resend_crashed=lambda _channel: resend_crashed)
        return found[idempotency_key]

    def claim_many(
        self, keys: Sequence[str], *, worker: str, lease_seconds: float = 600.0,
        resend_crashed: Callable[[str], bool], crashed_event: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
        | None = None,
    ) -> dict[str, ClaimOutcome]:
        """Try to own dispatch rows for sending, all in one transaction; the outcome of each key.

        ``pending`` and ``failed_transient`` rows are claimed. ``delivered`` and ``failed_permanent``
        rows are not. A ``sending`` row is another run's while its lease holds and its process lives
        (and on PostgreSQL while another transaction holds it); once presumed dead it is claimed again
        (``resumed``) when ``resend_crashed(channel)`` (the provider deduplicates by key), and otherwise
        held: marked ``failed_permanent`` with failure ``interrupted`` for an operator to reconcile, with
        the history event ``crashed_event(row)`` returns (if any).
        """
        if not keys:
            return {}
        with self._begin() as conn:
            return self._claim_many(conn, keys, worker=worker, lease_seconds=lease_seconds,
                                    resend_crashed=resend_crashed, crashed_event=crashed_event)

    def _claim_many(
        self, conn: sa.Connection, keys: Sequence[str], *, worker: str, lease_seconds: float,
        resend_crashed: Callable[[str], bool],
        crashed_event: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None,
    ) -> dict[str, ClaimOutcome]:
        if not keys:
            return {}
        now = self.clock()
        outcomes: dict[str, ClaimOutcome] = {}
        # rows another run is claiming are skipped (PostgreSQL): in flight
        rows = rows_where_in(conn, "dispatches", "*", "idempotency_key", list(keys),
                              lock="FOR UPDATE SKIP LOCKED")
        by_key = {row.idempotency_key: row for row in rows}
        claimable: list[tuple[Any, bool]] = []
        for key in keys:
            row = by_key.get(key)
            if row is None:
                outcomes[key] = _locked_elsewhere(conn, key)
                continue
            outcome = self._unclaimable(conn, row, now, resend_crashed, crashed_event)
            if outcome is not None:
                outcomes[key] = outcome
            else:  # a crashed send taken up again is resumed: its provider drops the duplicate
                claimable.append((row, row.state == "sending"))
        outcomes.update(_claim_rows(conn, claimable, worker, utc_iso(now + timedelta(seconds=lease_seconds)),
                                    utc_iso(now)))
        return outcomes

    def _unclaimable(
        self, conn: sa.Connection, row: Any, now: datetime, resend_crashed: Callable[[str], bool],
        crashed_event: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None,
    ) -> ClaimOutcome | None:
        """Why the locked row cannot be claimed now (sent, failed, still in flight, or a crashed send held for a
        person); None when it can."""
        if row.state == "delivered":
            return ClaimOutcome(None, row.state, "already_sent")
        if row.state == "failed_permanent":
            return ClaimOutcome(None, row.state, row.last_error or "failed_permanent", row.failure or "permanent")
        if row.state != "sending":
            return None
        lease_over = row.lease_until is None or parse_instant(row.lease_until) <= now
        if not (lease_over or _process_is_dead(row.claimed_by)):
            return ClaimOutcome(None, row.state, "in_flight")
        if resend_crashed(row.channel):
            return None
        t = schema.dispatches
        conn.execute(
            t.update().where(t.c.id == row.id, t.c.state == "sending", t.c.claim_token == row.claim_token)
            .values(state="failed_permanent", last_error=INTERRUPTED, failure="interrupted",
                    updated_at=utc_iso(now), lease_until=None)
        )
        event = crashed_event(dict(row._mapping)) if crashed_event is not None else None
        if event is not None:
            self._insert_events(conn, [event])
        return ClaimOutcome(None, "failed_permanent", INTERRUPTED, "interrupted", fresh=True)

    def record_attempt(
        self, claim: Claim, *, status: str, provider_id: str | None, detail: str | None, started: datetime
    ) -> int:
        """Log one send attempt (any outcome) and count it on the dispatch row; returns its number."""
        t = schema.dispatches
        with self._begin() as conn:
            conn.execute(t.update().where(t.c.id == claim.dispatch_id).values(attempts=t.c.attempts + 1))
            number = conn.execute(sa.select(t.c.attempts).where(t.c.id == claim.dispatch_id)).scalar_one()
            conn.execute(
                schema.delivery_attempts.insert().values(
                    dispatch_id=claim.dispatch_id,
                    idempotency_key=claim.idempotency_key,
                    attempt=number,
                    status=status,
                    provider_id=provider_id,
                    detail=detail,
                    started_at=utc_iso(started),
                    finished_at=self._now(),
                )
            )
        return int(number)

    def finish(
        self,
        claim: Claim,
        *,
        state: str,
        provider_id: str | None = None,
        error: str | None = None,
        event: Mapping[str, Any] | None = None,
        failure: str | None = None,
    ) -> bool:
        """Record the final state of a claimed row and its history event, atomically.

        Returns False (and writes nothing) when the claim was lost to another run.
        """
        result = Finish(claim, state, provider_id=provider_id, error=error, event=event, failure=failure)
        return claim.dispatch_id in self.finish_many([result])

    def finish_many(self, results: Sequence[Finish]) -> set[int]:
        """Record the attempts, final state and history event of claimed rows, all in one transaction;
        returns the dispatch ids recorded. A row whose claim was lost to another run is left untouched
        (its id is not returned)."""
        if not results:
            return set()
        with self._begin() as conn:
            return self._finish_many(conn, results)

    def _finish_many(self, conn: sa.Connection, results: Sequence[Finish]) -> set[int]:
        if not results:
            return set()
        for result in results:
            if result.state not in ("delivered", "failed_transient", "failed_permanent", "pending"):
                raise LedgerError(f"cannot finish a dispatch in state {result.state!r}")
        now = self._now()
        owned: dict[int, int] = {}
        tokens = {r.claim.dispatch_id: r.claim.token for r in results}
        # by primary key only, the state checked here (see claim_many: no state predicate)
        for row in rows_where_in(conn, "dispatches", "id, state, claim_token, attempts", "id", list(tokens),
                                  lock="FOR UPDATE"):
            if row.state == "sending" and tokens.get(int(row.id)) == row.claim_token:
                owned[int(row.id)] = int(row.attempts)
        mine = [r for r in results if r.claim.dispatch_id in owned]
        if not mine:
            return set()
        updates, attempts, events = [], [], []
        for result in mine:
            number = owned[result.claim.dispatch_id]
            for attempt in result.attempts:
                number += 1
                attempts.append({"dispatch_id": result.claim.dispatch_id,
                                 "idempotency_key": result.claim.idempotency_key, "attempt": number,
                                 "status": attempt.status, "provider_id": attempt.provider_id,
                                 "detail": attempt.detail, "started_at": utc_iso(attempt.started),
                                 "finished_at": utc_iso(attempt.finished or attempt.started)})
            released = result.state == "pending"
            updates.append({
                "b_id": result.claim.dispatch_id, "b_state": result.state, "b_error": result.error,
                "b_failure": result.failure, "b_attempts": number, "b_updated": now,
                "b_delivered": now if result.state == "delivered" else None,
                "b_provider": result.provider_id, "b_token": None if released else result.claim.token,
            })
            if result.event is not None:
                events.append(result.event)
        # the hot path of every dispatch: one statement per batch on PostgreSQL, executemany on SQLite
        update_by_id(conn, "dispatches", FINISH_ASSIGNMENTS,
                     [(u["b_id"], u["b_state"], u["b_error"], u["b_failure"], u["b_attempts"], u["b_updated"],
                       u["b_delivered"], u["b_provider"], u["b_token"]) for u in updates], types={"attempts": "int"})
        insert_rows(conn, "delivery_attempts", ATTEMPT_COLUMNS,
                    [tuple(a[c] for c in ATTEMPT_COLUMNS) for a in attempts],
                    types={"dispatch_id": "int", "attempt": "int"})
        self._insert_events(conn, events)
        return set(owned)

    def write_cycle(
        self, *, results: Sequence[Finish] = (), decisions: Sequence[Mapping[str, Any]] = (),
        claims: Sequence[str] = (), worker: str, lease_seconds: float = 600.0,
        resend_crashed: Callable[[str], bool],
        crashed_event: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
    ) -> CycleOutcome:
        """One cycle of a dispatch loop in one transaction (one commit, one fsync): record the ``results``
        of sends (as :meth:`finish_many`), then store ``decisions`` (as :meth:`record_decisions`), then
        claim the rows of ``claims`` (as :meth:`claim_many`, which may claim rows the decisions just added).

        All of it is committed, or none of it: a claim is sent only after this returns, and a result lost
        with a failed cycle leaves its row ``sending`` (claimed, maybe sent), which the next run resolves by
        the rule of :meth:`claim_many`.
        """
        if not (results or decisions or claims):
            return CycleOutcome(set(), [], {})
        with self._begin() as conn:
            recorded = self._finish_many(conn, results)
            ids = self._record_decisions(conn, decisions) if decisions else []
            outcomes = self._claim_many(conn, claims, worker=worker, lease_seconds=lease_seconds,
                                        resend_crashed=resend_crashed, crashed_event=crashed_event)
        return CycleOutcome(recorded, ids, outcomes)

    def requeue(self, idempotency_key: str, *, by: str = "operator") -> bool:
        """Put a failed dispatch back to ``pending`` so the next run sends it; returns whether it changed."""
        return bool(self.requeue_many([idempotency_key], by=by))

    def requeue_many(self, keys: Sequence[str], *, by: str = "operator") -> list[str]:
        """Put failed (or held) dispatches back to ``pending``, keeping their attempt log and adding a
        ``requeued`` entry to it; returns the keys that changed. Delivered or pending rows are untouched."""
        t = schema.dispatches
        changed: list[str] = []
        now = self._now()
        with self._begin() as conn:
            for part in _chunks(list(keys), 500):
                rows = list(conn.execute(sa.select(t.c.id, t.c.idempotency_key, t.c.attempts).where(
                    t.c.idempotency_key.in_(part), t.c.state.in_(("failed_transient", "failed_permanent")))))
                if not rows:
                    continue
                conn.execute(t.update().where(t.c.id.in_([r.id for r in rows]),
                                              t.c.state.in_(("failed_transient", "failed_permanent")))
                             .values(state="pending", claim_token=None, claimed_by=None, lease_until=None,
                                     updated_at=now, attempts=t.c.attempts + 1))
                conn.execute(schema.delivery_attempts.insert(), [
                    {"dispatch_id": r.id, "idempotency_key": r.idempotency_key, "attempt": int(r.attempts) + 1,
                     "status": "requeued", "provider_id": None, "detail": f"requeued by {by}",
                     "started_at": now, "finished_at": now} for r in rows])
                changed += [r.idempotency_key for r in rows]
        return changed

    def failed_keys(self, channel: str | None = None) -> list[str]:
        """The idempotency keys of every failed or held dispatch (of one channel), oldest first."""
        return [row["idempotency_key"] for row in self.list_failed(channel)]

    def list_failed(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Failed and held dispatch rows (``failed_transient``, ``failed_permanent``), oldest first."""
        t = schema.dispatches
        query = sa.select(t).where(t.c.state.in_(("failed_transient", "failed_permanent"))).order_by(t.c.id)
        if channel is not None:
            query = query.where(t.c.channel == channel)
        return [dict(row._mapping) for row in self._read(query)]

    def get_dispatch(self, idempotency_key: str) -> dict[str, Any] | None:
        """One dispatch row as a dict, or None."""
        t = schema.dispatches
        rows = self._read(sa.select(t).where(t.c.idempotency_key == idempotency_key))
        return dict(rows[0]._mapping) if rows else None

    def list_dispatches(self, state: str | None = None, *, account_id: str | None = None) -> list[dict[str, Any]]:
        """Dispatch rows (optionally in one state, of one account), oldest first."""
        t = schema.dispatches
        query = sa.select(t).order_by(t.c.id)
        if state is not None:
            query = query.where(t.c.state == state)
        if account_id is not None:
            query = query.where(t.c.account_id == account_id)
        return [dict(r._mapping) for r in self._read(query)]

    def list_attempts(self, idempotency_key: str | None = None, *,
                      account_id: str | None = None) -> list[dict[str, Any]]:
        """The delivery attempt log (of one key, or of one account's dispatches), oldest first."""
        t = schema.delivery_attempts
        query = sa.select(t).order_by(t.c.id)
        if idempotency_key is not None:
            query = query.where(t.c.idempotency_key == idempotency_key)
        if account_id is not None:
            query = query.where(t.c.dispatch_id.in_(
                sa.select(schema.dispatches.c.id).where(schema.dispatches.c.account_id == account_id)))
        return [dict(r._mapping) for r in self._read(query)]

    def history_mark(self) -> int:
        """The id of the newest history row: events recorded later have a greater id."""
        value = self._read(sa.select(sa.func.max(schema.history.c.id)))[0][0]
        return int(value or 0)

    def history_since(self, account_id: str, mark: int) -> list[dict[str, Any]]:
        """The account's history events recorded after ``mark`` (see :meth:`history_mark`), in time order."""
        t = schema.history
        query = sa.select(t.c.body).where(t.c.account_id == account_id, t.c.id > mark).order_by(t.c.at_utc, t.c.id)
        return [dict(row.body) for row in self._read(query)]

    # -- history ---------------------------------------------------------------------------------

    def append_history(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Add history events (contract shape: account_id, at with offset, type, ...); returns the count."""
        batch = list(events)
        with self._begin() as conn:
            self._insert_events(conn, batch)
        return len(batch)

    def _insert_event(self, conn: sa.Connection, event: Mapping[str, Any]) -> None:
        self._insert_events(conn, [event])

    def _insert_events(self, conn: sa.Connection, events: Sequence[Mapping[str, Any]]) -> None:
        rows = [_history_row(event) for event in events]
        if not rows:
            return
        columns = HISTORY_COLUMNS[:-1]
        insert_rows(conn, "history", HISTORY_COLUMNS,
                    [(*(row[c] for c in columns), _json(row["body"])) for row in rows], json_columns=("body",))

    def iter_history(
        self, account_id: str | None = None, *, since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """History events in the contract's shape, in time order (all accounts, or one)."""
        t = schema.history
        query = sa.select(t.c.body).order_by(t.c.at_utc, t.c.id)
        if account_id is not None:
            query = query.where(t.c.account_id == account_id)
        if since is not None:
            query = query.where(t.c.at_utc >= utc_iso(since))
        try:
            with self.engine.connect() as conn:
                for row in conn.execute(query):
                    yield dict(row.body)
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"the ledger could not be read: {_one_line(exc)}") from exc

    def export_history(self, path: str) -> int:
        """Write the history as JSON Lines (the engine's ``--history`` input); returns the event count."""
        count = 0
        with open(path, "w", encoding="utf-8") as fh:
            for ev in self.iter_history():
                fh.write(json.dumps(ev, ensure_ascii=False) + "\n")
                count += 1
        return count

    # -- plumbing --------------------------------------------------------------------------------

    def _begin(self) -> Any:
        return _Transaction(self.engine)

    def _read(self, query: Any) -> list[Any]:
        """The rows of a read-only query; a database error becomes LedgerError."""
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(query))
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"the ledger could not be read: {_one_line(exc)}") from exc


class _Transaction:
    """``engine.begin()`` that turns database errors into LedgerError."""

    def __init__(self, engine: sa.Engine) -> None:
        self._cm = engine.begin()

    def __enter__(self) -> sa.Connection:
        try:
            return self._cm.__enter__()
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"ledger transaction could not start: {_one_line(exc)}") from exc

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        try:
            handled = self._cm.__exit__(exc_type, exc, tb)
        except sa.exc.SQLAlchemyError as err:
            raise LedgerError(f"ledger transaction failed: {_one_line(err)}") from err
        if isinstance(exc, sa.exc.SQLAlchemyError):  # rolled back; the caller gets one clear line
            raise LedgerError(f"ledger transaction failed: {_one_line(exc)}") from exc
        return handled


def _insert(conn: sa.Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    raise LedgerError(f"unsupported ledger database {conn.dialect.name!r} (use SQLite or PostgreSQL)")


def _make_engine(url: str, schema_name: str | None) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60}, hide_parameters=True, json_serializer=_json)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below start transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL, not NORMAL: with NORMAL a committed claim can vanish in a power loss (a kill keeps it),
            # and a claim that vanished after its message went out is a message sent twice
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock up front: no upgrade deadlocks

        return engine
    connect_args: dict[str, Any] = {}
    if schema_name:
        connect_args["options"] = f"-csearch_path={schema_name}"
    # hide_parameters: an error never prints the statement's values (customer names, messages)
    engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True, hide_parameters=True,
                              pool_size=4, max_overflow=8, json_serializer=_json)
    if schema_name:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"'))
    return engine


def safe_url(url: str) -> str:
    """A ledger URL fit to print: the password (and any query secret) hidden."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"
    if parsed.query:
        parsed = parsed.set(query={key: "***" for key in parsed.query})
    return parsed.render_as_string(hide_password=True)


_safe_url = safe_url


def _jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(value), default=str)))


def _json(value: Any) -> str:
    """JSON columns: anything not JSON-native (a date, a Decimal) is written as its text."""
    return json.dumps(value, default=str, ensure_ascii=False)


def _one_line(exc: BaseException) -> str:
    """A database error as one line: its class and first line (statement parameters are hidden)."""
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _decision_key(decision: Mapping[str, Any]) -> dict[str, str]:
    account_id = str(decision["account_id"])
    if len(account_id) > ACCOUNT_ID_MAX:
        raise LedgerError(f"account_id {account_id[:40]!r}... is {len(account_id)} characters; the ledger "
                          f"stores at most {ACCOUNT_ID_MAX}")
    policy = decision.get("policy") or {}
    return {"account_id": account_id, "as_of": str(decision.get("as_of", "")),
            "policy_digest": str(policy.get("digest") or "")}


def _pending_row(decision_id: int, account_id: str, action: Mapping[str, Any], now: str) -> dict[str, Any]:
    not_after = action.get("not_after")
    return {
        "idempotency_key": str(action["idempotency_key"]),
        "decision_id": decision_id,
        "account_id": account_id,
        "action": str(action.get("action", "")),
        "channel": str(action.get("channel", "")),
        "template": action.get("template"),
        "notice": action.get("notice"),
        "send_at": action.get("send_at"),
        "not_after": utc_iso(parse_instant(str(not_after))) if not_after else None,
        "state": "pending",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _history_row(event: Mapping[str, Any]) -> dict[str, Any]:
    for required in ("account_id", "at", "type"):
        if not event.get(required):
            raise LedgerError(f"history event without {required!r}: {dict(event)!r}")
    try:
        at_utc = utc_iso(parse_instant(str(event["at"])))
    except ValueError as exc:
        raise LedgerError(f"history event for {event['account_id']!r}: bad 'at': {exc}") from exc
    body = {k: v for k, v in event.items() if v is not None}
    return {"account_id": str(event["account_id"]), "at": str(event["at"]), "at_utc": at_utc,
            "type": str(event["type"]), "channel": event.get("channel"), "outcome": event.get("outcome"),
            "action": event.get("action"), "notice": event.get("notice"),
            "idempotency_key": event.get("idempotency_key"), "body": body}


def open_ledger(
    url: str | None = None, *, schema_name: str | None = None, clock: Callable[[], datetime] = utc_now
) -> Ledger:
    """Open the ledger at ``url`` (default ``$POLICY_ENGINE_LEDGER_URL`` or ``sqlite:///policy-engine.db``)."""
    return Ledger.open(url or os.environ.get("POLICY_ENGINE_LEDGER_URL") or DEFAULT_URL, schema_name=schema_name,
                       clock=clock)


def _locked_elsewhere(conn: sa.Connection, key: str) -> ClaimOutcome:
    """A key whose row the lock did not give: another run is claiming it (PostgreSQL skips locked rows),
    or it has no row at all (a LedgerError)."""
    t = schema.dispatches
    if conn.dialect.name == "postgresql" and conn.execute(
            sa.select(t.c.id).where(t.c.idempotency_key == key)).first() is not None:
        return ClaimOutcome(None, "sending", "in_flight")
    raise LedgerError(f"no dispatch row for idempotency key {key!r}")


def _claim_rows(conn: sa.Connection, claimable: list[tuple[Any, bool]], worker: str, lease: str,
                now: str) -> dict[str, ClaimOutcome]:
    """Claim the locked rows (row, resumed) under one new token, 500 to a statement."""
    token = uuid.uuid4().hex
    outcomes: dict[str, ClaimOutcome] = {}
    for part in _chunks(claimable, 500):
        # by primary key only: the rows are this transaction's (SQLite's write lock, PostgreSQL's row
        # locks), and a state predicate would let PostgreSQL's planner pick the state index on a
        # table it has no statistics of yet (a fresh ledger), scanning every pending row
        ids = [int(row.id) for row, _ in part]
        claim_set = ("SET state = 'sending', claim_token = {m}, claimed_by = {m}, lease_until = {m}, "
                     "updated_at = {m}")
        if conn.dialect.name == "postgresql":  # one statement, one round trip
            done = conn.exec_driver_sql(f"UPDATE dispatches {claim_set.format(m='%s')} WHERE id = ANY(%s)",
                                        (token, worker, lease, now, ids))
        else:
            done = conn.exec_driver_sql(f"UPDATE dispatches {claim_set.format(m='?')} WHERE id = ?",
                                        [(token, worker, lease, now, dispatch_id) for dispatch_id in ids])
        if done.rowcount != len(part):
            raise LedgerError("a claimed dispatch row changed inside its own transaction")
        for row, resumed in part:
            outcomes[row.idempotency_key] = ClaimOutcome(
                Claim(int(row.id), row.idempotency_key, token, int(row.attempts), resumed), "sending")
    return outcomes
