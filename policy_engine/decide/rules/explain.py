"""Explain a condition: every comparison with the value it saw and whether it held."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from policy_engine.decide.facts import FactContext
from policy_engine.policy.conditions import All, Any_, Compare, Condition, Not

__all__ = ["explain_condition", "jsonable"]


def jsonable(value: Any) -> Any:
    """A JSON-ready, deterministic form of a fact value."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (tuple, list, frozenset, set)):
        return [jsonable(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)]
    if isinstance(value, date):
        return value.isoformat()
    return value


def explain_condition(cond: Condition, ctx: FactContext) -> tuple[bool, dict[str, Any]]:
    """Evaluate ``cond`` fully (no short-circuit) and return (held, trace node)."""
    if isinstance(cond, Compare):
        held, seen = ctx.evaluate(cond)
        return held, {"condition": cond.describe(), "value": jsonable(seen), "held": held}
    if isinstance(cond, Not):
        inner_held, node = explain_condition(cond.item, ctx)
        return not inner_held, {"not": node, "held": not inner_held}
    results = [explain_condition(c, ctx) for c in cond.items]
    held = all(r[0] for r in results) if isinstance(cond, All) else any(r[0] for r in results)
    key = "all" if isinstance(cond, All) else "any"
    assert isinstance(cond, (All, Any_))
    return held, {key: [r[1] for r in results], "held": held}
