"""The condition AST as SQL boolean expressions over one account row of the plan.

Every expression is TRUE or FALSE, never NULL, with the row engine's semantics
(:func:`policy_engine.decide.facts.compare_values`): a missing value satisfies nothing but
``exists = false``; a value of another type than the one compared with is unequal, and neither less nor
greater; ``True == 1`` as in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, Context, Decimal
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
_JSON_INTEGERS = "('BIGINT', 'UBIGINT', 'HUGEINT')"


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


_GRID = Decimal("1E-18")
_WIDE = Context(prec=60)
_HUGE = Decimal(10) ** 19


def _number_compare(side: str, op: str, value: Any, grid: Decimal = _GRID, huge: Decimal | None = _HUGE) -> str:
    """``side op value`` for a number column (money at 18 places, or integers: ``grid`` 1), exactly: a
    literal finer than the grid falls between two grid points; one beyond ``huge`` (far outside the
    columns' range) compares as a double."""
    exact = Decimal(int(value)) if isinstance(value, bool | int) else Decimal(str(value))
    sign = _SQL_OPERATORS[op]
    if huge is not None and abs(exact) >= huge:
        return f"COALESCE(CAST({side} AS DOUBLE) {sign} CAST({text(str(exact))} AS DOUBLE), FALSE)"
    below = exact.quantize(grid, rounding=ROUND_FLOOR, context=_WIDE)
    if below == exact:
        return f"COALESCE({side} {sign} {format(exact, 'f')}, FALSE)"
    above = _WIDE.add(below, grid)
    if op == "eq":
        return "FALSE"
    if op == "ne":
        return f"({side} IS NOT NULL)"
    if op in ("lt", "lte"):
        return f"COALESCE({side} <= {format(below, 'f')}, FALSE)"
    return f"COALESCE({side} >= {format(above, 'f')}, FALSE)"


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
        if kind == "number" or _kind_of(value) == "number":
            return _number_compare(side, "eq", value)
        return f"COALESCE({side} = {_literal(value)}, FALSE)"

    def _ordered(self, expr: str, kind: Kind, op: str, value: Any) -> str:
        side = self._comparable(expr, kind, value)
        if side is None or isinstance(value, list | tuple | dict):
            return "FALSE"
        if kind == "number" or _kind_of(value) == "number":
            return _number_compare(side, op, value)
        return f"COALESCE({side} {_SQL_OPERATORS[op]} {_literal(value)}, FALSE)"

    # -- attributes (JSON) ------------------------------------------------------------------------------

    @staticmethod
    def _path(key: str) -> str:
        return text('$."' + key.replace('"', '\\"') + '"')

    def _json(self, key: str) -> tuple[str, str, str]:
        path = self._path(key)
        return (f"JSON_TYPE(attributes, {path})", f"JSON_EXTRACT_STRING(attributes, {path})",
                f"TRY_CAST(JSON_EXTRACT_STRING(attributes, {path}) AS DOUBLE)")

    def _json_number(self, key: str, op: str, value: Any) -> str:
        """The attribute ``key`` (a JSON number) ``op`` ``value`` exactly, as Python compares them: integers
        as integers, doubles by their shortest decimal text."""
        kind, raw, numeric = self._json(key)
        integer = _number_compare(f"TRY_CAST({raw} AS HUGEINT)", op, value, Decimal(1), None)
        double = f"{self._numeric_order(numeric, value)} {_SQL_OPERATORS[op]} 0"
        return f"CASE WHEN {kind} IN {_JSON_INTEGERS} THEN {integer} ELSE COALESCE({double}, FALSE) END"

    @staticmethod
    def _numeric_order(numeric: str, value: Any) -> str:
        """-1, 0 or 1: the attribute number against ``value`` exactly, as Python compares the attribute's
        decimal text with the literal. Doubles order like their texts, except when the attribute's double is
        the literal's own: then the sign of (the shortest text of that double - the literal), known now."""
        exact = Decimal(value) if isinstance(value, int) else Decimal(str(value))
        double = float(exact)
        same = (Decimal(repr(double)) > exact) - (Decimal(repr(double)) < exact)
        literal = f"CAST({text(repr(double))} AS DOUBLE)"
        return f"(CASE WHEN {numeric} = {literal} THEN {same} ELSE SIGN({numeric} - {literal}) END)"

    def _json_equal(self, key: str, value: Any) -> str:
        kind, raw, numeric = self._json(key)
        other = _kind_of(value)
        if other == "string":
            return f"COALESCE({kind} = 'VARCHAR' AND {raw} = {text(value)}, FALSE)"
        if other in ("number", "boolean"):
            as_number = number(value)
            return (f"COALESCE(({kind} IN {_JSON_NUMBERS} AND {self._json_number(key, 'eq', value)}) OR "
                    f"({kind} = 'BOOLEAN' AND CAST({raw} = 'true' AS INTEGER) = {as_number}), FALSE)")
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
            return (f"COALESCE(({kind} IN {_JSON_NUMBERS} AND {self._json_number(key, op, value)}) OR "
                    f"({kind} = 'BOOLEAN' AND CAST({raw} = 'true' AS INTEGER) {sign} {as_number}), FALSE)")
        return "FALSE"
