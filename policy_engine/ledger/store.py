"""The ledger: decisions, dispatch claims, delivery attempts and history, in one SQL database.

Exactly-once rests on two rules. A dispatch row's ``idempotency_key`` is UNIQUE, and a row moves to
``sending`` only through a compare-and-set UPDATE inside a transaction, so two runs can never both own
it. The owner's ``claim_token`` must still match when it records the result, so a run that lost its
claim (because it was presumed dead) cannot overwrite the run that took over.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from policy_engine._exceptions import LedgerError
from policy_engine.ledger import schema
from policy_engine.ledger.clock import parse_instant, utc_iso, utc_now
from policy_engine.ledger.migrations import migrate

__all__ = ["DEFAULT_URL", "Claim", "ClaimOutcome", "Ledger", "open_ledger", "worker_identity"]

DEFAULT_URL = "sqlite:///policy-engine.db"
HISTORY_FIELDS = ("account_id", "at", "type", "channel", "outcome", "action", "notice")


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
    """The result of trying to claim: a Claim, or the state that prevented it and why."""

    claim: Claim | None
    state: str
    reason: str = ""


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Ledger:
    """A ledger database. Open with :func:`open_ledger` (or ``Ledger.open``); close when done."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock
        self.schema_version = migrate(engine)

    @classmethod
    def open(
        cls, url: str = DEFAULT_URL, *, schema_name: str | None = None, clock: Callable[[], datetime] = utc_now
    ) -> Ledger:
        """Open (and migrate) the ledger at a SQLAlchemy URL; ``schema_name`` selects a PostgreSQL schema."""
        url = _normalise_url(url)
        try:
            engine = _make_engine(url, schema_name)
            return cls(engine, clock=clock)
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"cannot open the ledger at {_safe_url(url)}: {exc.__class__.__name__}: {exc}") from exc

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
        policy = decision.get("policy") or {}
        key = {
            "account_id": str(decision["account_id"]),
            "as_of": str(decision.get("as_of", "")),
            "policy_digest": str(policy.get("digest") or ""),
        }
        now = self._now()
        with self._begin() as conn:
            found = conn.execute(
                sa.select(schema.decisions.c.id).where(
                    *(schema.decisions.c[k] == v for k, v in key.items())
                )
            ).scalar()
            if found is None:
                found = conn.execute(
                    schema.decisions.insert().values(
                        **key,
                        policy_id=str(policy.get("id") or ""),
                        policy_version=str(policy.get("version") or ""),
                        body=_jsonable(decision),
                        recorded_at=now,
                    )
                ).inserted_primary_key[0]
            for action in decision.get("actions") or []:
                self._insert_pending(conn, int(found), key["account_id"], action, now)
        return int(found)

    def _insert_pending(
        self, conn: sa.Connection, decision_id: int, account_id: str, action: Mapping[str, Any], now: str
    ) -> None:
        values = {
            "idempotency_key": str(action["idempotency_key"]),
            "decision_id": decision_id,
            "account_id": account_id,
            "action": str(action.get("action", "")),
            "channel": str(action.get("channel", "")),
            "template": action.get("template"),
            "notice": action.get("notice"),
            "send_at": action.get("send_at"),
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        stmt = _insert(conn)(schema.dispatches).values(**values)
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["idempotency_key"]))

    def iter_decisions(self) -> Iterator[dict[str, Any]]:
        """Every recorded decision, oldest first, as the engine produced it."""
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(schema.decisions.c.body).order_by(schema.decisions.c.id)):
                yield dict(row.body)

    # -- dispatch claims -------------------------------------------------------------------------

    def claim(
        self, idempotency_key: str, *, worker: str, lease_seconds: float = 600.0, resend_crashed: bool
    ) -> ClaimOutcome:
        """Try to own a dispatch row for sending.

        ``pending`` and ``failed_transient`` rows are claimed. ``delivered`` and ``failed_permanent``
        rows are not. A ``sending`` row is another run's while its lease holds and its process lives;
        once presumed dead it is claimed again (``resumed``) when ``resend_crashed`` (the provider
        deduplicates by key), and otherwise marked ``failed_permanent`` for an operator to reconcile.
        """
        t = schema.dispatches
        now_dt = self.clock()
        now = utc_iso(now_dt)
        with self._begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.idempotency_key == idempotency_key)).one_or_none()
            if row is None:
                raise LedgerError(f"no dispatch row for idempotency key {idempotency_key!r}")
            if row.state == "delivered":
                return ClaimOutcome(None, row.state, "already_sent")
            if row.state == "failed_permanent":
                return ClaimOutcome(None, row.state, row.last_error or "failed_permanent")
            resumed = False
            if row.state == "sending":
                lease_over = row.lease_until is None or parse_instant(row.lease_until) <= now_dt
                if not (lease_over or _process_is_dead(row.claimed_by)):
                    return ClaimOutcome(None, row.state, "in_flight")
                if not resend_crashed:
                    reason = (
                        "interrupted: the process sending it stopped before recording the result, and the "
                        "channel's provider cannot deduplicate by key, so it was not re-sent; check with the "
                        "provider, then requeue it or leave it"
                    )
                    conn.execute(
                        t.update()
                        .where(t.c.id == row.id, t.c.state == "sending", t.c.claim_token == row.claim_token)
                        .values(state="failed_permanent", last_error=reason, updated_at=now)
                    )
                    return ClaimOutcome(None, "failed_permanent", reason)
                resumed = True
            token = uuid.uuid4().hex
            lease = utc_iso(now_dt + timedelta(seconds=lease_seconds))
            cas = t.update().where(t.c.id == row.id, t.c.state == row.state)
            cas = cas.where(t.c.claim_token.is_(None)) if row.claim_token is None else cas.where(
                t.c.claim_token == row.claim_token
            )
            done = conn.execute(
                cas.values(state="sending", claim_token=token, claimed_by=worker, lease_until=lease, updated_at=now)
            )
            if done.rowcount != 1:
                return ClaimOutcome(None, "sending", "in_flight")
            return ClaimOutcome(Claim(row.id, idempotency_key, token, row.attempts, resumed), "sending")

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
    ) -> bool:
        """Record the final state of a claimed row and its history event, atomically.

        Returns False (and writes nothing) when the claim was lost to another run.
        """
        if state not in ("delivered", "failed_transient", "failed_permanent", "pending"):
            raise LedgerError(f"cannot finish a dispatch in state {state!r}")
        t = schema.dispatches
        now = self._now()
        values: dict[str, Any] = {"state": state, "updated_at": now, "last_error": error, "lease_until": None}
        if provider_id is not None:
            values["provider_id"] = provider_id
        if state == "delivered":
            values["delivered_at"] = now
        with self._begin() as conn:
            done = conn.execute(
                t.update()
                .where(t.c.id == claim.dispatch_id, t.c.claim_token == claim.token, t.c.state == "sending")
                .values(**values)
            )
            if done.rowcount != 1:
                return False
            if event is not None:
                self._insert_event(conn, event)
        return True

    def requeue(self, idempotency_key: str) -> bool:
        """Put a failed dispatch back to ``pending`` so the next run sends it; returns whether it changed."""
        t = schema.dispatches
        with self._begin() as conn:
            done = conn.execute(
                t.update()
                .where(
                    t.c.idempotency_key == idempotency_key,
                    t.c.state.in_(("failed_transient", "failed_permanent")),
                )
                .values(state="pending", claim_token=None, claimed_by=None, updated_at=self._now())
            )
        return done.rowcount == 1

    def get_dispatch(self, idempotency_key: str) -> dict[str, Any] | None:
        """One dispatch row as a dict, or None."""
        t = schema.dispatches
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.idempotency_key == idempotency_key)).one_or_none()
        return dict(row._mapping) if row is not None else None

    def list_dispatches(self, state: str | None = None) -> list[dict[str, Any]]:
        """Dispatch rows (optionally in one state), oldest first."""
        t = schema.dispatches
        query = sa.select(t).order_by(t.c.id)
        if state is not None:
            query = query.where(t.c.state == state)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def list_attempts(self, idempotency_key: str | None = None) -> list[dict[str, Any]]:
        """The delivery attempt log, oldest first."""
        t = schema.delivery_attempts
        query = sa.select(t).order_by(t.c.id)
        if idempotency_key is not None:
            query = query.where(t.c.idempotency_key == idempotency_key)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- history ---------------------------------------------------------------------------------

    def append_history(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Add history events (contract shape: account_id, at with offset, type, ...); returns the count."""
        count = 0
        with self._begin() as conn:
            for ev in events:
                self._insert_event(conn, ev)
                count += 1
        return count

    def _insert_event(self, conn: sa.Connection, ev: Mapping[str, Any]) -> None:
        for required in ("account_id", "at", "type"):
            if not ev.get(required):
                raise LedgerError(f"history event without {required!r}: {dict(ev)!r}")
        try:
            at_utc = utc_iso(parse_instant(str(ev["at"])))
        except ValueError as exc:
            raise LedgerError(f"history event for {ev['account_id']!r}: bad 'at': {exc}") from exc
        body = {k: v for k, v in _jsonable(ev).items() if v is not None}
        conn.execute(
            schema.history.insert().values(
                account_id=str(ev["account_id"]),
                at=str(ev["at"]),
                at_utc=at_utc,
                type=str(ev["type"]),
                channel=ev.get("channel"),
                outcome=ev.get("outcome"),
                action=ev.get("action"),
                notice=ev.get("notice"),
                idempotency_key=ev.get("idempotency_key"),
                body=body,
            )
        )

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
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                yield dict(row.body)

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


class _Transaction:
    """``engine.begin()`` that turns database errors into LedgerError."""

    def __init__(self, engine: sa.Engine) -> None:
        self._cm = engine.begin()

    def __enter__(self) -> sa.Connection:
        try:
            return self._cm.__enter__()
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"ledger transaction could not start: {exc}") from exc

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        try:
            return self._cm.__exit__(exc_type, exc, tb)
        except sa.exc.SQLAlchemyError as err:
            raise LedgerError(f"ledger transaction failed: {err}") from err


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
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below start transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
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
    engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    if schema_name:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"'))
    return engine


def _safe_url(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def _jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(value), default=str)))


def open_ledger(
    url: str | None = None, *, schema_name: str | None = None, clock: Callable[[], datetime] = utc_now
) -> Ledger:
    """Open the ledger at ``url`` (default ``$POLICY_ENGINE_LEDGER_URL`` or ``sqlite:///policy-engine.db``)."""
    return Ledger.open(url or os.environ.get("POLICY_ENGINE_LEDGER_URL") or DEFAULT_URL, schema_name=schema_name,
                       clock=clock)
