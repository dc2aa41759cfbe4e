"""The agent queue: tasks for people, kept in the ledger's ``agent_tasks`` table.

A task is created once per idempotency key (``open``), taken by one agent (``claimed``) and closed
(``done``) with the outcome of the contact, which is written to the history as a ``contact`` event of the
call the task led to (it counts against the call caps, and a ``conversation`` starts the pause after a
conversation). A task is a call: it is handed out only inside the window it may be worked in, and only
while the limits its decision applied still allow a call (``limits`` in its payload, written by the run:
see :mod:`policy_engine.deliver.task_limits`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from policy_engine._exceptions import LedgerError
from policy_engine.data.history import HistoryView
from policy_engine.data.records import HistoryEvent
from policy_engine.ledger import schema
from policy_engine.ledger.clock import parse_instant, utc_iso
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
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        limits: Mapping[str, Any] | None = None,
    ) -> tuple[int, bool]:
        """Open a task unless one exists for the key; returns (task id, whether it was created now).

        ``not_before``/``not_after`` is the window it may be worked in; ``limits`` what a claim checks
        again (kept in the payload under ``limits``, see :meth:`claim`).
        """
        t = schema.agent_tasks
        body = dict(payload or {})
        if limits:
            body["limits"] = dict(limits)
        with self.ledger._begin() as conn:
            stmt = _insert(conn)(t).values(
                idempotency_key=idempotency_key,
                account_id=account_id,
                action=action,
                channel=channel,
                template=template,
                subject=subject,
                message=message,
                payload=_jsonable(body),
                state="open",
                created_at=self.ledger._now(),
                not_before=utc_iso(not_before) if not_before is not None else None,
                not_after=utc_iso(not_after) if not_after is not None else None,
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
        """Give an open task (the given one, or the oldest) to ``agent``; None when there is none to take.

        Only a task inside its window (``not_before`` <= now < ``not_after``) whose limits still allow a
        call is handed out (see :meth:`refusal`); a task the limits refuse stays open.
        """
        found = self.claim_or_refusal(agent, task_id)
        return found if isinstance(found, dict) else None

    def claim_or_refusal(self, agent: str, task_id: int | None = None) -> dict[str, Any] | str | None:
        """Like :meth:`claim`, but says why the given task (or every open one) cannot be taken now."""
        t = schema.agent_tasks
        now_dt = self.ledger.clock()
        now = utc_iso(now_dt)
        refusals: list[str] = []
        query = sa.select(t).where(t.c.state == "open").order_by(t.c.id)
        if task_id is not None:
            query = query.where(t.c.id == task_id)
        else:
            query = query.where(sa.or_(t.c.not_before.is_(None), t.c.not_before <= now),
                                sa.or_(t.c.not_after.is_(None), t.c.not_after > now))
        # the limits are counted before the write transaction: reading the history needs no lock
        for row in self.ledger._read(query.limit(200)):
            refusal = self.refusal(dict(row._mapping), now_dt)
            if refusal is not None:
                refusals.append(f"task {row.id}: {refusal}")
                continue
            with self.ledger._begin() as conn:
                done = conn.execute(
                    t.update()
                    .where(t.c.id == row.id, t.c.state == "open")
                    .values(state="claimed", claimed_by=agent, claimed_at=now)
                )
                if done.rowcount == 1:
                    claimed = conn.execute(sa.select(t).where(t.c.id == row.id)).one()
                    return dict(claimed._mapping)
        if refusals:
            return "; ".join(refusals[:5])
        return None

    def refusal(self, task: Mapping[str, Any], now: datetime) -> str | None:
        """Why ``task`` may not be worked at ``now``: outside its window, or a limit the decision applied
        (a cap, the pause after a conversation, the daily cap) counted again with the contacts recorded
        since; None when it may."""
        window = _window_refusal(task, now)
        if window is not None:
            return window
        limits = (task.get("payload") or {}).get("limits") or {}
        rules = limits.get("rules") or []
        if not rules:
            return None
        view = HistoryView(self._events_since(task, limits), now, ZoneInfo(str(limits.get("timezone") or "UTC")))
        return next((reason for rule in rules if (reason := _rule_refusal(rule, view)) is not None), None)

    def _events_since(self, task: Mapping[str, Any], limits: Mapping[str, Any]) -> Sequence[HistoryEvent]:
        """The account's history events recorded since the decision, but the decision's own actions (already
        counted when it was made); a body that is no valid event is left out."""
        own = set(limits.get("decision_keys") or ())
        events: list[HistoryEvent] = []
        for body in self.ledger.history_since(str(task["account_id"]), int(limits.get("mark") or 0)):
            if body.get("idempotency_key") in own and body.get("type") == "contact" and not body.get("task_action"):
                continue
            try:
                events.append(HistoryEvent.model_validate(body))
            except ValueError:
                continue
        return events

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


def _window_refusal(task: Mapping[str, Any], now: datetime) -> str | None:
    """Why ``now`` is outside the task's window, if it is."""
    if task.get("not_before") and now < parse_instant(str(task["not_before"])):
        return f"its window opens at {task['not_before']}"
    if task.get("not_after") and now >= parse_instant(str(task["not_after"])):
        return f"its window closed at {task['not_after']}"
    return None


def _rule_refusal(rule: Mapping[str, Any], view: HistoryView) -> str | None:
    """Why one limit the decision applied forbids the task now, counted again over ``view``, if it does."""
    channels = rule.get("channels")
    if rule.get("rule") == "after_conversation":
        last = view.last_conversation(channels)
        if last is not None and (view.today - last).days < int(rule["days"]):
            return f"a conversation on {last.isoformat()}: no call for {rule['days']} days after a conversation"
    elif rule.get("rule") == "frequency_cap":
        since = view.contacts(channels, int(rule["days"]), conversations_only=bool(rule.get("conversations")),
                              excluding=rule.get("excluding") or ())
        if int(rule.get("counted") or 0) + since >= int(rule["max"]):
            named = "/".join(channels) if channels else "all channels"
            return (f"the cap of {rule['max']} on {named} in {rule['days']} days is reached "
                    f"({since} contact(s) since the run)")
    elif rule.get("rule") == "daily_cap":
        today = view.contacts_today(None, excluding=rule.get("excluding") or ())
        if int(rule.get("counted") or 0) + today >= int(rule["max"]):
            return f"the daily cap of {rule['max']} contacts is reached ({today} since the run)"
    return None
