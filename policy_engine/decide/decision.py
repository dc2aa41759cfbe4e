"""What the engine decides for one account: planned actions, suppressions and (optionally) the trace.

The JSON shape is the contract of ``dry-run --format json`` (see docs and contracts.md); ``to_dict``
writes it and ``from_dict`` reads it back (for decisions that arrive as JSON, e.g. to be dispatched).
"""

from __future__ import annotations

from collections.abc import Mapping
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, stage: str | None = None,
                  default_send_at: datetime | None = None) -> PlannedAction:
        """The action a contract JSON object describes; ValueError names the field that is wrong.

        An offer given by id only becomes ``{"id": ...}``; a missing ``send_at`` is ``default_send_at``.
        A ``send_at`` without a UTC offset is kept as written (dispatch refuses to send it).
        """
        offer = data.get("offer")
        if isinstance(offer, str):
            offer = {"id": offer}
        elif offer is not None and not isinstance(offer, Mapping):
            raise ValueError(f"action offer {offer!r} is neither an offer id nor an object")
        raw_send_at = data.get("send_at")
        if raw_send_at:
            send_at = _instant(raw_send_at, "send_at")
        elif default_send_at is not None:
            send_at = default_send_at
        else:
            raise ValueError("action send_at is missing")
        return cls(
            action=str(_required(data, "action")),
            channel=str(_required(data, "channel")),
            template=_optional_text(data.get("template")),
            send_at=send_at,
            notice=_optional_text(data.get("notice")),
            offer=dict(offer) if offer is not None else None,
            idempotency_key=str(data.get("idempotency_key") or ""),
            priority=int(data.get("priority") or 0),
            stage=_optional_text(data.get("stage", stage)),
            content_rules=tuple(str(rule) for rule in data.get("content_rules") or ()),
            not_after=_instant(data["not_after"], "not_after") if data.get("not_after") else None,
        )


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Suppression:
        """The suppression a contract JSON object describes."""
        return cls(str(_required(data, "action")), str(_required(data, "channel")), str(_required(data, "reason")),
                   str(data.get("detail") or ""), _optional_text(data.get("source")))


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """The decision a contract Decision JSON object describes (the inverse of :meth:`to_dict`).

        ValueError names the field that is wrong; the trace, when present, is kept as written.
        """
        as_of = _instant(_required(data, "as_of"), "as_of")
        stage = _optional_text(data.get("stage"))
        policy = data.get("policy") or {}
        if not isinstance(policy, Mapping):
            raise ValueError(f"decision policy {policy!r} is not an object")
        return cls(
            account_id=str(_required(data, "account_id")),
            as_of=as_of,
            policy={str(k): (None if v is None else str(v)) for k, v in policy.items()},
            dpd=int(data.get("dpd") or 0),
            segment=_optional_text(data.get("segment")),
            stage=stage,
            holds=[str(hold) for hold in data.get("holds") or []],
            actions=[PlannedAction.from_dict(a, stage=stage, default_send_at=as_of) for a in data.get("actions") or []],
            suppressed=[Suppression.from_dict(s) for s in data.get("suppressed") or []],
            offers=[str(offer) for offer in data.get("offers") or []],
            variant=_optional_text(data.get("variant")),
            trace=list(data["trace"]) if data.get("trace") is not None else None,
            in_scope=bool(data.get("in_scope", True)),
        )


def _required(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is None or value == "":
        raise ValueError(f"{key} is missing")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _instant(value: Any, key: str) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{key} {value!r} is not an ISO 8601 date and time") from None
