"""The condition AST as SQL boolean expressions over one account row of the plan.

Every expression is TRUE or FALSE, never NULL, with the row engine's semantics
(:func:`policy_engine.decide.facts.compare_values`): a missing value satisfies nothing but
``exists = false``; a value of another type than the one compared with is unequal, and neither less nor
greater; ``True == 1`` as in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from policy_engine.decide.columnar.facts import HistoryFacts
from policy_engine.decide.columnar.load import attributes_json
from policy_engine.guardrails.sql import days_between, number, text
from policy_engine.policy.conditions import All, Any_, Compare, Condition, Not

__all__ = ["ConditionCompiler", "Kind"]

Kind = Literal["number", "string", "boolean", "json"]

_ACCOUNT_FACTS: dict[str, tuple[str, Kind]] = {
    "dpd": ("dpd", "number"),
    "balance": ("balance", "number"),
    "amount_past_due": ("COALESCE(amount_past_due, balance)", "number"),
    "minimum_due": ("minimum_due", "number"),
    "credit_score": ("credit_score", "number"),
    "prior_delinquencies": ("prior_delinquencies", "number"),
    "region": ("region", "string"),
    "product": ("product", "string"),
    "language": ("language", "string"),
    "currency": ("currency", "string"),
    "segment": ("segment", "string"),
}
_SQL_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_JSON_NUMBERS = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"


def _kind_of(value: Any) -> Kind | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return text(value)
    return number(value)


class ConditionCompiler:
    """Turns conditions into SQL; facts from history are asked of ``facts``; the account's flags, consent
    and holds from events through the callables the plan gives."""

    def __init__(self, facts: HistoryFacts, flag: Callable[[str], str], consent: Callable[[str], str]) -> None:
        self.facts = facts
        self._flag = flag
        self._consent = consent

    def condition(self, cond: Condition | None) -> str:
        """The SQL boolean for ``cond`` (TRUE when there is none)."""
        if cond is None:
            return "TRUE"
        if isinstance(cond, Compare):
            return self._compare(cond)
        if isinstance(cond, Not):
            return f"(NOT {self.condition(cond.item)})"
        parts = [self.condition(item) for item in cond.items]
        if isinstance(cond, All):
            return "(" + " AND ".join(parts) + ")" if parts else "TRUE"
        if isinstance(cond, Any_):
            return "(" + " OR ".join(parts) + ")" if parts else "FALSE"
        raise TypeError(f"not a condition: {cond!r}")

    # -- facts ------------------------------------------------------------------------------------------

    def fact(self, fact: str, params: dict[str, Any]) -> tuple[str, Kind]:
        """The SQL expression of a fact and the kind of its values."""
        if fact in _ACCOUNT_FACTS:
            return _ACCOUNT_FACTS[fact]
        facts = self.facts
        channels = params.get("channels")
        if isinstance(channels, str):
            channels = (channels,)
        if fact == "days_since_last_payment":
            return facts.days_since_last_payment(), "number"
        if fact == "days_since_last_conversation":
            return days_between(facts.last_conversation(channels), "today"), "number"
        if fact == "active_promise":
            return facts.has_active_promise(), "boolean"
        if fact == "broken_promises":
            return facts.broken_promises(params.get("days")), "number"
        if fact in ("contacts", "conversations"):
            return facts.contacts(channels, int(params["days"]), conversations_only=fact == "conversations"), "number"
        if fact == "notices_sent":
            return facts.notices_sent(params.get("notice")), "number"
        if fact == "days_since_notice":
            return days_between(facts.served_notice(str(params["notice"])), "today"), "number"
        namespace, _, key = fact.partition(".")
        if namespace == "flags":
            return self._flag(key), "boolean"
        if namespace == "consent":
            return self._consent(key), "boolean"
        if namespace == "contact":
            if key in ("phone", "email", "address"):
                return f"contact_{key}", "string"
            if key in ("phone_at_work", "email_at_work"):
                return f"CASE WHEN contact_{key} THEN TRUE END", "boolean"
            return "CAST(NULL AS VARCHAR)", "string"
        if namespace == "attributes":
            return key, "json"
        raise KeyError(fact)

    # -- comparisons ------------------------------------------------------------------------------------

    def _compare(self, cmp: Compare) -> str:
        expr, kind = self.fact(cmp.fact, dict(cmp.params))
        if kind == "json":
            return self._compare_json(expr, cmp.op, cmp.value)
        if cmp.op == "exists":
            return f"({expr} IS {'NOT ' if cmp.value else ''}NULL)"
        if cmp.op in ("in", "not_in"):
            matches = [self._equal(expr, kind, item) for item in cmp.value]
            found = "(" + " OR ".join(matches) + ")" if matches else "FALSE"
            return found if cmp.op == "in" else f"({expr} IS NOT NULL AND NOT {found})"
        if cmp.op == "eq":
            return self._equal(expr, kind, cmp.value)
        if cmp.op == "ne":
            return f"({expr} IS NOT NULL AND NOT {self._equal(expr, kind, cmp.value)})"
        return self._ordered(expr, kind, cmp.op, cmp.value)

    @staticmethod
    def _comparable(expr: str, kind: Kind, value: Any) -> str | None:
        """``expr`` as it compares with ``value`` (booleans as 0/1 against numbers), or None: never equal."""
        other = _kind_of(value)
        if other == kind:
            return expr
        if {other, kind} == {"number", "boolean"}:
            return f"CAST({expr} AS INTEGER)" if kind == "boolean" else expr
        return None

    def _equal(self, expr: str, kind: Kind, value: Any) -> str:
        side = self._comparable(expr, kind, value)
        if side is None:
            return "FALSE"
        literal = _literal(value) if not (kind == "number" and isinstance(value, bool)) else number(value)
        return f"COALESCE({side} = {literal}, FALSE)"

    def _ordered(self, expr: str, kind: Kind, op: str, value: Any) -> str:
        side = self._comparable(expr, kind, value)
        if side is None or isinstance(value, list | tuple | dict):
            return "FALSE"
        literal = number(value) if kind == "number" else _literal(value)
        return f"COALESCE({side} {_SQL_OPERATORS[op]} {literal}, FALSE)"

    # -- attributes (JSON) ------------------------------------------------------------------------------

    @staticmethod
    def _path(key: str) -> str:
        return text('$."' + key.replace('"', '\\"') + '"')

    def _json(self, key: str) -> tuple[str, str, str]:
        path = self._path(key)
        return (f"JSON_TYPE(attributes, {path})", f"JSON_EXTRACT_STRING(attributes, {path})",
                f"TRY_CAST(JSON_EXTRACT_STRING(attributes, {path}) AS DOUBLE)")

    def _json_equal(self, key: str, value: Any) -> str:
        kind, raw, numeric = self._json(key)
        other = _kind_of(value)
        if other == "string":
            return f"COALESCE({kind} = 'VARCHAR' AND {raw} = {text(value)}, FALSE)"
        if other in ("number", "boolean"):
            as_number = number(value)
            return (f"COALESCE(({kind} IN {_JSON_NUMBERS} AND {numeric} = {as_number}) OR ({kind} = 'BOOLEAN' "
                    f"AND CAST({raw} = 'true' AS INTEGER) = {as_number}), FALSE)")
        if isinstance(value, list | tuple | dict):  # a list or table: the same JSON, written canonically
            shape = "'ARRAY'" if isinstance(value, list | tuple) else "'OBJECT'"
            canonical = attributes_json({"value": value})[len('{"value":'):-1]
            return (f"COALESCE({kind} = {shape} AND CAST(JSON_EXTRACT(attributes, {self._path(key)}) AS VARCHAR) "
                    f"= {text(canonical)}, FALSE)")
        return "FALSE"

    def _compare_json(self, key: str, op: str, value: Any) -> str:
        kind, raw, numeric = self._json(key)
        present = f"COALESCE({kind} <> 'NULL', FALSE)"
        if op == "exists":
            return present if value else f"(NOT {present})"
        if op in ("in", "not_in"):
            matches = [self._json_equal(key, item) for item in value]
            found = "(" + " OR ".join(matches) + ")" if matches else "FALSE"
            return found if op == "in" else f"({present} AND NOT {found})"
        if op == "eq":
            return self._json_equal(key, value)
        if op == "ne":
            return f"({present} AND NOT {self._json_equal(key, value)})"
        sign = _SQL_OPERATORS[op]
        other = _kind_of(value)
        if other == "string":
            return f"COALESCE({kind} = 'VARCHAR' AND {raw} {sign} {text(value)}, FALSE)"
        if other in ("number", "boolean"):
            as_number = number(value)
            return (f"COALESCE(({kind} IN {_JSON_NUMBERS} AND {numeric} {sign} {as_number}) OR ({kind} = 'BOOLEAN' "
                    f"AND CAST({raw} = 'true' AS INTEGER) {sign} {as_number}), FALSE)")
        return "FALSE"
