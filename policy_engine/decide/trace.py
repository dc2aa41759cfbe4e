"""The explanation of a decision, step by step: a tracer the engine reports each step to.

``dry-run`` without ``--explain`` uses :data:`NO_TRACE`, whose methods do nothing, so deciding costs
nothing extra; ``--explain`` and ``explain`` use a :class:`RecordingTracer`, whose entries become the
decision's ``trace``: every scope, segment, hold, stage and action rule considered (each condition with
the value it saw and whether it held), the broken-promise escalations, the guardrail that stopped each
suppressed action, and each planned action (for legal steps, which notice allowed it and its age).
"""

from __future__ import annotations

from typing import Any

from policy_engine.decide.decision import Suppression, TraceEntry
from policy_engine.decide.facts import FactContext
from policy_engine.decide.rules.explain import explain_condition
from policy_engine.policy.conditions import Condition

__all__ = ["NO_TRACE", "RecordingTracer", "Tracer"]


class Tracer:
    """Receives the steps of one decision; this base class ignores them all."""

    recording = False
    """True when the tracer keeps what it is told (the engine skips work only a trace would use)."""

    def rule(self, kind: str, ident: str, condition: Condition | None, ctx: FactContext, held: bool,
             **extra: Any) -> None:
        """A rule (scope, segment, hold, stage, action) was considered; ``extra`` adds keys to the entry."""

    def escalation(self, action_id: str, promise_due: str, broken_on: str, already: bool) -> None:
        """A broken promise was found; ``already`` when it has been escalated before."""

    def guardrail(self, check: str, suppression: Suppression) -> None:
        """A guardrail family stopped an action."""

    def planned(self, action: str, channel: str, send_at: str, prerequisites: list[str] | None = None) -> None:
        """An action passed every guardrail."""

    @property
    def entries(self) -> list[TraceEntry] | None:
        """The trace, or None when nothing is recorded."""
        return None


NO_TRACE = Tracer()
"""The tracer of a decision nobody asked to explain."""


class RecordingTracer(Tracer):
    """Keeps every step as a trace entry, in order."""

    recording = True

    def __init__(self) -> None:
        self._entries: list[TraceEntry] = []

    def rule(self, kind: str, ident: str, condition: Condition | None, ctx: FactContext, held: bool,
             **extra: Any) -> None:
        """Record the rule, with its condition explained value by value."""
        entry: TraceEntry = {"step": kind, "id": ident, "held": held}
        if condition is not None:
            _, entry["condition"] = explain_condition(condition, ctx)
        entry.update(extra)
        self._entries.append(entry)

    def escalation(self, action_id: str, promise_due: str, broken_on: str, already: bool) -> None:
        """Record the broken promise."""
        self._entries.append({"step": "escalation", "id": action_id, "promise_due": promise_due,
                              "broken_on": broken_on, "already_escalated": already})

    def guardrail(self, check: str, suppression: Suppression) -> None:
        """Record the suppression and the family that made it."""
        self._entries.append({"step": "guardrail", "check": check, "action": suppression.action,
                              "reason": suppression.reason, "detail": suppression.detail,
                              "source": suppression.source})

    def planned(self, action: str, channel: str, send_at: str, prerequisites: list[str] | None = None) -> None:
        """Record the planned action."""
        entry: TraceEntry = {"step": "planned", "action": action, "channel": channel, "send_at": send_at}
        if prerequisites:
            entry["prerequisites"] = prerequisites
        self._entries.append(entry)

    @property
    def entries(self) -> list[TraceEntry] | None:
        """Every recorded step."""
        return self._entries
