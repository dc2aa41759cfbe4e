"""The agent queue: tasks for people, kept in the ledger's ``agent_tasks`` table.

A task is created once per idempotency key (``open``), taken by one agent (``claimed``) and closed
(``done``) with the outcome of the contact, which is written to the history as a ``contact`` event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from policy_engine._exceptions import LedgerError
from policy_engine.ledger import schema
from policy_engine.ledger.clock import utc_iso
from policy_engine.ledger.store import Ledger, _insert, _jsonable

__all__ = ["COMPLETION_OUTCOMES", "AgentQueue"]

COMPLETION_OUTCOMES = ("conversation", "no_answer", "voicemail", "failed")


class AgentQueue:
    """Agent task operations on a ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def create(
        self,
        *,
        idempotency_key: str,
        account_id: str,
        action: str,
        channel: str,
        message: str,
        subject: str | None = None,
        template: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> tuple[int, bool]:
        """Open a task unless one exists for the key; returns (task id, whether it was created now)."""
        t = schema.agent_tasks
        with self.ledger._begin() as conn:
            stmt = _insert(conn)(t).values(
                idempotency_key=idempotency_key,
                account_id=account_id,
                action=action,
                channel=channel,
                template=template,
                subject=subject,
                message=message,
                payload=_jsonable(payload or {}),
                state="open",
                created_at=self.ledger._now(),
            )
            inserted = conn.execute(
                stmt.on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(t.c.id)
            ).scalar()
            created = inserted is not None
            task_id = inserted if created else conn.execute(
                sa.select(t.c.id).where(t.c.idempotency_key == idempotency_key)
            ).scalar_one()
        return int(task_id), created

    def list(self, state: str | None = None) -> list[dict[str, Any]]:
        """Tasks (optionally in one state), oldest first."""
        t = schema.agent_tasks
        query = sa.select(t).order_by(t.c.id)
        if state is not None:
            query = query.where(t.c.state == state)
        with self.ledger.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def get(self, task_id: int) -> dict[str, Any] | None:
        """One task, or None."""
        t = schema.agent_tasks
        with self.ledger.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == task_id)).one_or_none()
        return dict(row._mapping) if row is not None else None

    def claim(self, agent: str, task_id: int | None = None) -> dict[str, Any] | None:
        """Give an open task (the given one, or the oldest) to ``agent``; None when there is none to take."""
        t = schema.agent_tasks
        with self.ledger._begin() as conn:
            for _ in range(20):
                query = sa.select(t.c.id).where(t.c.state == "open").order_by(t.c.id).limit(1)
                if task_id is not None:
                    query = sa.select(t.c.id).where(t.c.id == task_id, t.c.state == "open")
                found = conn.execute(query).scalar()
                if found is None:
                    return None
                done = conn.execute(
                    t.update()
                    .where(t.c.id == found, t.c.state == "open")
                    .values(state="claimed", claimed_by=agent, claimed_at=self.ledger._now())
                )
                if done.rowcount == 1:
                    row = conn.execute(sa.select(t).where(t.c.id == found)).one()
                    return dict(row._mapping)
        return None

    def complete(self, task_id: int, *, agent: str, outcome: str, note: str | None = None) -> dict[str, Any]:
        """Close a task claimed by ``agent`` and write the contact's outcome to the history."""
        if outcome not in COMPLETION_OUTCOMES:
            raise LedgerError(f"outcome {outcome!r} is not one of {', '.join(COMPLETION_OUTCOMES)}")
        t = schema.agent_tasks
        with self.ledger._begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == task_id)).one_or_none()
            if row is None:
                raise LedgerError(f"agent task {task_id} does not exist")
            if row.state != "claimed" or row.claimed_by != agent:
                owner = f" by {row.claimed_by!r}" if row.claimed_by else ""
                raise LedgerError(f"agent task {task_id} is {row.state}{owner}; {agent!r} cannot complete it")
            now = self.ledger._now()
            conn.execute(
                t.update()
                .where(t.c.id == task_id, t.c.state == "claimed")
                .values(state="done", completed_at=now, outcome=outcome, note=note)
            )
            self.ledger._insert_event(
                conn,
                {
                    "account_id": row.account_id,
                    "at": utc_iso(self.ledger.clock()),
                    "type": "contact",
                    "channel": row.channel,
                    "outcome": outcome,
                    # the call the task led to: it counts against call caps and (a conversation) starts the
                    # pause after a conversation; the action's cadence already counts the task itself
                    "task_action": row.action,
                    "idempotency_key": row.idempotency_key,
                    "agent": agent,
                },
            )
            final = conn.execute(sa.select(t).where(t.c.id == task_id)).one()
        return dict(final._mapping)
