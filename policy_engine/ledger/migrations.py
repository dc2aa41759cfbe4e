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


def _v1_tables(conn: sa.Connection) -> None:
    tables = [
        schema.decisions,
        schema.dispatches,
        schema.delivery_attempts,
        schema.history,
        schema.agent_tasks,
    ]
    schema.metadata.create_all(conn, tables=tables)


def _v2_indexes(conn: sa.Connection) -> None:
    # Plain DDL: an sa.Index bound to the tables would join the metadata and be created by v1 next time.
    conn.execute(sa.text("CREATE INDEX ix_history_account_at ON history (account_id, at_utc)"))
    conn.execute(sa.text("CREATE INDEX ix_dispatches_state ON dispatches (state)"))
    conn.execute(sa.text("CREATE INDEX ix_agent_tasks_state ON agent_tasks (state, id)"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "decisions, dispatches, delivery attempts, history, agent tasks", _v1_tables),
    Migration(2, "indexes for history by account, dispatches and tasks by state", _v2_indexes),
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
