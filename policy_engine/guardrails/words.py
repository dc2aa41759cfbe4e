"""Guardrail settings in words, for a reviewer: how the report lists each effective limit.

Each family says how its own settings read (:meth:`~policy_engine.guardrails.base.GuardrailFamily.describe`);
the helpers here turn values into short phrases the same way for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from policy_engine.policy.models import ContactHours

__all__ = ["GROUPS", "LimitText", "attribute", "covered", "plural", "words"]

GROUPS = ("contact hours and days", "caps and pauses", "consent and contact points", "notices and waits",
          "legal safeguards", "holds", "other")
"""The groups a reviewer reads limits in, in order."""


@dataclass(frozen=True)
class LimitText:
    """One effective limit as a reviewer reads it: its group (one of :data:`GROUPS`), name and value."""

    group: str
    rule: str
    value: str


def plural(count: int, noun: str) -> str:
    """``1 day``, ``3 days``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def covered(channels: Iterable[str], kinds: Iterable[str]) -> str:
    """The channels a rule names, kinds included, or every channel that contacts the customer."""
    named = [*channels, *(f"{kind} (any channel)" for kind in kinds)]
    return ", ".join(named) if named else "every channel that contacts the customer"


def words(value: Any) -> str:
    """A setting's value as a short phrase: hours as 08:00–21:00, flags as yes/no, lists joined."""
    if isinstance(value, ContactHours):
        end = "24:00" if value.end.hour == 0 and value.end.minute == 0 else value.end.strftime("%H:%M")
        return f"{value.start.strftime('%H:%M')}–{end}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(words(item) for item in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{key} {words(item)}" for key, item in value.items()) or "none"
    if hasattr(value, "model_dump"):
        return ", ".join(f"{key} {words(item)}" for key, item in value.model_dump(by_alias=True).items()
                         if item not in (None, [], {}))
    return "not set" if value is None else str(value)


def attribute(root: Any, path: str) -> Any:
    """``root.a.b`` for the dotted ``path`` ``a.b`` (None where a part is missing)."""
    value = root
    for part in path.split("."):
        value = getattr(value, part, None) if value is not None else None
    return value
