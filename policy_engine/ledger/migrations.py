"""Ordered schema migrations, applied when a ledger is opened.

Each migration runs in its own transaction together with the ``schema_version`` row that records it, so
a crash leaves the schema at a known version. Append new migrations at the end; never edit an applied
one (when a later migration alters a table, freeze migration 1 by copying that table's v1 definition
into it first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from policy_engine._exceptions import LedgerError
from policy_engine.ledger import schema
from policy_engine.ledger.clock import utc_iso


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its version number, what it does, and the function doing it."""

    version: int
    description: str
    upgrade: Callable[[sa.Connection], None]


_V1 = sa.MetaData()
"""The tables exactly as migration 1 created them (frozen: later migrations alter dispatches and tasks)."""

sa.Table(
    "decisions", _V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(200), nullable=False),
    sa.Column("as_of", sa.String(40), nullable=False),
    sa.Column("policy_id", sa.String(200), nullable=False, server_default=""),
    sa.Column("policy_version", sa.String(100), nullable=False, server_default=""),
    sa.Column("policy_digest", sa.String(200), nullable=False, server_default=""),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("account_id", "as_of", "policy_digest", name="uq_decision"),
)
sa.Table(
    "dispatches", _V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(300), nullable=False, unique=True),
    sa.Column("decision_id", sa.Integer, sa.ForeignKey("decisions.id"), nullable=True),
    sa.Column("account_id", sa.String(200), nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("template", sa.String(200), nullable=True),
    sa.Column("notice", sa.String(200), nullable=True),
    sa.Column("send_at", sa.String(40), nullable=True),
    sa.Column("state", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("provider_id", sa.String(300), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("claimed_by", sa.String(300), nullable=True),
    sa.Column("claim_token", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.String(40), nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("delivered_at", sa.String(40), nullable=True),
    sa.CheckConstraint("state IN ('pending', 'sending', 'delivered', 'failed_transient', 'failed_permanent')",
                       name="ck_state_known"),
)
sa.Table(
    "delivery_attempts", _V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dispatch_id", sa.Integer, sa.ForeignKey("dispatches.id"), nullable=False),
    sa.Column("idempotency_key", sa.String(300), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("provider_id", sa.String(300), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=False),
)
sa.Table(
    "history", _V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(200), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("at_utc", sa.String(40), nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(100), nullable=True),
    sa.Column("outcome", sa.String(40), nullable=True),
    sa.Column("action", sa.String(200), nullable=True),
    sa.Column("notice", sa.String(200), nullable=True),
    sa.Column("idempotency_key", sa.String(300), nullable=True),
    sa.Column("body", sa.JSON, nullable=False),
)
sa.Table(
    "agent_tasks", _V1,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(300), nullable=False, unique=True),
    sa.Column("account_id", sa.String(200), nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("template", sa.String(200), nullable=True),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(20), nullable=False, server_default="open"),
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("claimed_at", sa.String(40), nullable=True),
    sa.Column("completed_at", sa.String(40), nullable=True),
    sa.Column("outcome", sa.String(40), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.CheckConstraint("state IN ('open', 'claimed', 'done')", name="ck_state_known"),
)


def _v1_tables(conn: sa.Connection) -> None:
    _V1.create_all(conn)


def _v2_indexes(conn: sa.Connection) -> None:
    # Plain DDL: an sa.Index bound to the tables would join the metadata and be created by v1 next time.
    conn.execute(sa.text("CREATE INDEX ix_history_account_at ON history (account_id, at_utc)"))
    conn.execute(sa.text("CREATE INDEX ix_dispatches_state ON dispatches (state)"))
    conn.execute(sa.text("CREATE INDEX ix_agent_tasks_state ON agent_tasks (state, id)"))


def _v3_windows_and_failures(conn: sa.Connection) -> None:
    # a dispatch remembers the end of its window and why it failed; a task the window it may be worked in
    for table, column in (("dispatches", "not_after"), ("dispatches", "failure"),
                          ("agent_tasks", "not_before"), ("agent_tasks", "not_after")):
        width = 20 if column == "failure" else 40
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR({width})"))
    conn.execute(sa.text("CREATE INDEX ix_dispatches_channel_state ON dispatches (channel, state)"))
    conn.execute(sa.text("CREATE INDEX ix_dispatches_account ON dispatches (account_id)"))
    conn.execute(sa.text("CREATE INDEX ix_agent_tasks_account ON agent_tasks (account_id)"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "decisions, dispatches, delivery attempts, history, agent tasks", _v1_tables),
    Migration(2, "indexes for history by account, dispatches and tasks by state", _v2_indexes),
    Migration(3, "dispatch windows and failure classes, task windows, indexes by account", _v3_windows_and_failures),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: sa.Connection) -> int:
    """The highest applied migration (0 for an empty database)."""
    value = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    return int(value or 0)


def migrate(engine: sa.Engine) -> int:
    """Bring the database to the latest version; returns the version reached."""
    schema.metadata.create_all(engine, tables=[schema.schema_version])
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7262531)"))
        version = current_version(conn)
        if version > LATEST_VERSION:
            raise LedgerError(
                f"the ledger is at schema version {version}, newer than this program knows "
                f"({LATEST_VERSION}): upgrade policy-engine"
            )
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            migration.upgrade(conn)
            conn.execute(
                schema.schema_version.insert().values(
                    version=migration.version, description=migration.description, applied_at=utc_iso()
                )
            )
            version = migration.version
    return version
