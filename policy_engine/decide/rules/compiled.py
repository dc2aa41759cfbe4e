"""The `compiled` backend: every condition becomes a tree of Python closures, built once per policy."""

from __future__ import annotations

from collections.abc import Callable

from policy_engine.decide.facts import ACCOUNT_FIELDS, FactContext, compare_values
from policy_engine.decide.rules.base import NamedCondition
from policy_engine.policy.conditions import All, Any_, Compare, Condition, Not

__all__ = ["CompiledRuleSet", "compile_condition"]

Predicate = Callable[[FactContext], bool]


def compile_condition(cond: Condition) -> Predicate:
    """A closure that evaluates ``cond`` against a FactContext, short-circuiting like the explainer."""
    if isinstance(cond, Compare):
        fact, params, op, expected = cond.fact, cond.params, cond.op, cond.value
        direct = ACCOUNT_FIELDS.get(fact) if not params else None
        if direct is not None:  # a plain field of the record: no cache lookup needed
            def compare_field(ctx: FactContext) -> bool:
                return compare_values(op, direct(ctx), expected)

            return compare_field

        def compare(ctx: FactContext) -> bool:
            return compare_values(op, ctx.value(fact, params), expected)

        return compare
    if isinstance(cond, Not):
        inner = compile_condition(cond.item)
        return lambda ctx: not inner(ctx)
    parts = tuple(compile_condition(c) for c in cond.items)
    if isinstance(cond, All):
        return lambda ctx: all(p(ctx) for p in parts)
    if isinstance(cond, Any_):
        return lambda ctx: any(p(ctx) for p in parts)
    raise TypeError(f"not a condition: {cond!r}")


class CompiledRuleSet:
    """Rules compiled to closures."""

    backend = "compiled"

    def __init__(self, rules: list[NamedCondition]) -> None:
        self._phases: dict[str, list[tuple[str, Predicate]]] = {}
        for rule in rules:
            self._phases.setdefault(rule.phase, []).append((rule.name, compile_condition(rule.condition)))

    def match(self, ctx: FactContext, phase: str) -> frozenset[str]:
        """Names of the rules of ``phase`` that hold."""
        return frozenset(name for name, pred in self._phases.get(phase, ()) if pred(ctx))
