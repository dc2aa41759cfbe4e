"""The ledger's tables as they are at the latest schema version (SQLAlchemy Core).

Timestamps are ISO 8601 text in UTC (``2026-11-28T01:00:00.000000+00:00``): portable between SQLite and
PostgreSQL, and ordered as text. History keeps the event's own ``at`` as given, plus ``at_utc`` to sort.

Nothing is ever deleted: a requeued dispatch keeps its attempt log (a ``requeued`` row is added), a held
send stays ``failed_permanent`` with its ``failure`` class until a person requeues it.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

DISPATCH_STATES = ("pending", "sending", "delivered", "failed_transient", "failed_permanent")
TASK_STATES = ("open", "claimed", "done")
FAILURE_CLASSES = ("permanent", "transient", "ambiguous", "interrupted")
"""Why a dispatch row failed: the provider refused it (``permanent``), it may work later (``transient``), or
nobody knows whether it went out: the send timed out or disconnected after the message was handed over
(``ambiguous``) or the sending process died (``interrupted``). The last two are *held* for a person."""
ACCOUNT_ID_MAX = 200
"""The longest account id the ledger stores (on every backend); longer ones are refused at input."""


def _states(column: str, states: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{s}'" for s in states)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"ck_{column}_known")


schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.String(40), nullable=False),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(ACCOUNT_ID_MAX), nullable=False),
    sa.Column("as_of", sa.String(40), nullable=False),
    sa.Column("policy_id", sa.String(200), nullable=False, server_default=""),
    sa.Column("policy_version", sa.String(100), nullable=False, server_default=""),
    sa.Column("policy_digest", sa.String(200), nullable=False, server_default=""),
    sa.Column("body", sa.JSON, nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("account_id", "as_of", "policy_digest", name="uq_decision"),
)

dispatches = sa.Table(
    "dispatches",
    metadata,
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
    sa.Column("not_after", sa.String(40), nullable=True),  # v3: the end of the window it may go out in
    sa.Column("failure", sa.String(20), nullable=True),  # v3: one of FAILURE_CLASSES when it failed
    _states("state", DISPATCH_STATES),
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
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

history = sa.Table(
    "history",
    metadata,
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

agent_tasks = sa.Table(
    "agent_tasks",
    metadata,
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
    sa.Column("not_before", sa.String(40), nullable=True),  # v3: the window it may be worked in (UTC)
    sa.Column("not_after", sa.String(40), nullable=True),
    _states("state", TASK_STATES),
)
