"""What the engine decides for one account: planned actions, suppressions and (optionally) the trace.

The JSON shape is the contract of ``dry-run --format json`` (see docs and contracts.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Decision", "PlannedAction", "Suppression", "TraceEntry"]

TraceEntry = dict[str, Any]


@dataclass(frozen=True)
class PlannedAction:
    """An action that passed every guardrail, with the instant it may be sent."""

    action: str
    channel: str
    template: str | None
    send_at: datetime
    notice: str | None
    offer: dict[str, Any] | None
    idempotency_key: str
    priority: int
    stage: str | None
    content_rules: tuple[str, ...] = ()
    not_after: datetime | None = None
    """The end of the window the action may go out (or an agent task be worked) in, today."""

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object for this action (``content_rules`` only when some apply)."""
        data: dict[str, Any] = {
            "action": self.action,
            "channel": self.channel,
            "template": self.template,
            "send_at": self.send_at.isoformat(),
            "notice": self.notice,
            "offer": self.offer,
            "idempotency_key": self.idempotency_key,
            "priority": self.priority,
        }
        if self.content_rules:
            data["content_rules"] = list(self.content_rules)
        if self.not_after is not None:
            data["not_before"] = data["send_at"]
            data["not_after"] = self.not_after.isoformat()
        return data


@dataclass(frozen=True)
class Suppression:
    """An action a guardrail stopped: the reason code, the numbers, and where the limit comes from."""

    action: str
    channel: str
    reason: str
    detail: str
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object for this suppression."""
        data: dict[str, Any] = {"action": self.action, "channel": self.channel, "reason": self.reason,
                                "detail": self.detail}
        if self.source:
            data["source"] = self.source
        return data


@dataclass
class Decision:
    """The engine's verdict for one account at ``as_of``."""

    account_id: str
    as_of: datetime
    policy: dict[str, str | None]
    dpd: int
    segment: str | None
    stage: str | None
    holds: list[str]
    actions: list[PlannedAction]
    suppressed: list[Suppression]
    offers: list[str] = field(default_factory=list)
    variant: str | None = None
    trace: list[TraceEntry] | None = None
    in_scope: bool = True

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """The contract's Decision JSON (with ``trace`` when ``explain``)."""
        data: dict[str, Any] = {
            "account_id": self.account_id,
            "as_of": self.as_of.isoformat(),
            "policy": self.policy,
            "dpd": self.dpd,
            "segment": self.segment,
            "stage": self.stage,
            "holds": self.holds,
            "actions": [a.to_dict() for a in self.actions],
            "suppressed": [s.to_dict() for s in self.suppressed],
            "offers": self.offers,
        }
        if not self.in_scope:
            data["in_scope"] = False
        if self.variant is not None:
            data["variant"] = self.variant
        if explain and self.trace is not None:
            data["trace"] = self.trace
        return data
