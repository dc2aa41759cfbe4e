"""The declarative condition language: parsed from TOML tables, never evaluated as a string.

A condition is a TOML table whose keys are facts and whose values are predicates::

    when = { credit_score = { gte = 700 }, prior_delinquencies = 0 }      # both must hold
    when.any = [ { credit_score = { lt = 600 } }, { prior_delinquencies = { gte = 2 } } ]
    when = { not = { flags.hardship = true } }
    when = { contacts = { channels = ["sms"], days = 30, gte = 5 } }     # a fact with parameters

A bare value means equality; a table of operators means all of them hold (``{ gte = 30, lt = 60 }``).
A fact with no value (no credit score on file) satisfies no comparison; ``exists = false`` tests for that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from policy_engine.policy.suggest import allowed_list, did_you_mean

__all__ = [
    "All",
    "Any_",
    "Compare",
    "Condition",
    "ConditionError",
    "FACTS",
    "FactSpec",
    "NAMESPACES",
    "Not",
    "OPERATORS",
    "condition_to_data",
    "iter_compares",
    "requires_flag",
    "parse_condition",
]

FactType = Literal["number", "integer", "string", "boolean"]


@dataclass(frozen=True)
class FactSpec:
    """What a fact is, its type and the parameters it takes."""

    type: FactType
    description: str
    params: tuple[str, ...] = ()
    required_params: tuple[str, ...] = ()
    derived: bool = False


FACTS: dict[str, FactSpec] = {
    "dpd": FactSpec("integer", "days past due at as_of, in the account's local calendar"),
    "balance": FactSpec("number", "total outstanding balance"),
    "amount_past_due": FactSpec("number", "amount past due (defaults to the balance)"),
    "minimum_due": FactSpec("number", "minimum payment due"),
    "credit_score": FactSpec("integer", "credit score on file"),
    "prior_delinquencies": FactSpec("integer", "number of earlier delinquency episodes"),
    "region": FactSpec("string", "region code such as US, US-MA, US-NYC, CN, UK"),
    "product": FactSpec("string", "card product"),
    "language": FactSpec("string", "customer's language (BCP 47)"),
    "currency": FactSpec("string", "account currency (ISO 4217)"),
    "segment": FactSpec("string", "the risk segment the account fell into (not usable inside segments)"),
    "days_since_last_payment": FactSpec("integer", "local days since the last payment", derived=True),
    "days_since_last_conversation": FactSpec(
        "integer", "local days since the last conversation", params=("channels",), derived=True
    ),
    "active_promise": FactSpec("boolean", "a promise to pay is running (not kept, not yet broken)", derived=True),
    "broken_promises": FactSpec(
        "integer", "promises broken (optionally within the last `days` days)", params=("days",), derived=True
    ),
    "contacts": FactSpec(
        "integer",
        "contact attempts in the last `days` local days (optionally on `channels`)",
        params=("channels", "days"),
        required_params=("days",),
        derived=True,
    ),
    "conversations": FactSpec(
        "integer",
        "conversations (calls that reached the customer) in the last `days` local days",
        params=("channels", "days"),
        required_params=("days",),
        derived=True,
    ),
    "notices_sent": FactSpec(
        "integer", "written notices sent (optionally only `notice`)", params=("notice",), derived=True
    ),
    "days_since_notice": FactSpec(
        "integer", "local days since `notice` was first served", params=("notice",),
        required_params=("notice",), derived=True,
    ),
}

NAMESPACES: dict[str, FactType | None] = {
    "flags": "boolean",
    "consent": "boolean",
    "contact": "string",
    "attributes": None,  # any type
}

FLAG_NAMES = ("dispute", "cease_contact", "bankruptcy", "deceased", "attorney", "breathing_space", "hardship")

OPERATORS: dict[str, str] = {
    "eq": "equals",
    "ne": "differs from",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is greater than",
    "gte": "is at least",
    "in": "is one of",
    "not_in": "is none of",
    "exists": "has a value (true) or has none (false)",
}
_ORDERING = frozenset({"lt", "lte", "gt", "gte"})
_COMBINATORS = ("all", "any", "not")


class ConditionError(ValueError):
    """A condition is malformed; ``subpath`` is where inside the condition table."""

    def __init__(self, subpath: tuple[str | int, ...], message: str) -> None:
        self.subpath = subpath
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Compare:
    """``fact op value``, with the fact's parameters (window days, channels, notice)."""

    fact: str
    op: str
    value: Any
    params: tuple[tuple[str, Any], ...] = ()
    subpath: tuple[str | int, ...] = field(default=(), compare=False)

    @property
    def param_dict(self) -> dict[str, Any]:
        """The parameters as a dict."""
        return dict(self.params)

    def describe(self) -> str:
        """Human-readable form, e.g. ``contacts(channels=[voice], days=7) >= 3``."""
        name = self.fact
        if self.params:
            inner = ", ".join(f"{k}={_show(v)}" for k, v in self.params)
            name = f"{name}({inner})"
        symbol = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}.get(self.op)
        if symbol:
            return f"{name} {symbol} {_show(self.value)}"
        if self.op == "exists":
            return f"{name} {'exists' if self.value else 'is missing'}"
        return f"{name} {self.op.replace('_', ' ')} {_show(self.value)}"


@dataclass(frozen=True)
class All:
    """Every item holds (an empty list holds)."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Any_:
    """At least one item holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The item does not hold."""

    item: Condition


Condition = All | Any_ | Not | Compare


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


MAX_NUMBER = Decimal(10) ** 30
"""The largest magnitude a number in a condition may have: 30 digits, beyond any amount or count."""
MAX_DAYS = 3660
"""The longest window a derived fact may count over: ten years of local days."""


def _finite(fact: str, value: Any, where: tuple[str | int, ...]) -> None:
    """NaN, infinities and absurd magnitudes are errors, never values a comparison silently mishandles."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ConditionError(where, f"{fact}: {value} is not a number a comparison can use")
    if abs(Decimal(str(value))) > MAX_NUMBER:
        raise ConditionError(where, f"{fact}: {_show(value)} is out of range (at most 10^30 in magnitude)")


def _check_scalar(fact: str, ftype: FactType | None, value: Any, where: tuple[str | int, ...]) -> Any:
    """Type-check a comparison value and normalise numbers to Decimal."""
    _finite(fact, value, where)
    if ftype is None:
        if isinstance(value, float):
            return Decimal(str(value))
        return value
    ok = {
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
    }[ftype]
    if not ok:
        expected = {"number": "a number", "integer": "a whole number", "string": "a string",
                    "boolean": "true or false"}[ftype]
        raise ConditionError(where, f"{fact} must be compared with {expected}, found {_show(value)}")
    if ftype == "number":
        return Decimal(str(value))
    return value


def _predicate(fact: str, spec_type: FactType | None, raw: Any, where: tuple[str | int, ...],
               params_allowed: tuple[str, ...] = (), required: tuple[str, ...] = ()) -> Condition:
    """Parse the right-hand side of ``fact = ...``."""
    if not isinstance(raw, dict):
        if required:
            raise ConditionError(where, f"{fact} needs parameters: write {fact} = {{ "
                                 + ", ".join(f"{p} = ..." for p in required) + ", gte = ... }")
        if isinstance(raw, list):
            raise ConditionError(where, f"{fact}: a list needs an operator, e.g. {fact} = {{ in = [...] }}")
        return Compare(fact, "eq", _check_scalar(fact, spec_type, raw, where), (), where)
    params: list[tuple[str, Any]] = []
    compares: list[Condition] = []
    for key, value in raw.items():
        here = where + (key,)
        if key in params_allowed:
            params.append((key, _check_param(fact, key, value, here)))
        elif key in OPERATORS:
            compares.append(_operator(fact, spec_type, key, value, here))
        else:
            choices = list(OPERATORS) + list(params_allowed)
            raise ConditionError(
                here,
                f"unknown operator '{key}' for {fact}{did_you_mean(key, choices)} (allowed: {allowed_list(choices)})",
            )
    for p in required:
        if p not in dict(params):
            raise ConditionError(where, f"{fact} needs the parameter '{p}'")
    if not compares:
        raise ConditionError(where, f"{fact}: no comparison given (use one of: {allowed_list(OPERATORS)})")
    frozen = tuple(sorted(params))
    built = [Compare(c.fact, c.op, c.value, frozen, c.subpath) if isinstance(c, Compare) else c for c in compares]
    return built[0] if len(built) == 1 else All(tuple(built))


def _check_param(fact: str, key: str, value: Any, where: tuple[str | int, ...]) -> Any:
    if key == "days":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DAYS:
            raise ConditionError(where, f"{fact}: days must be a whole number from 1 to {MAX_DAYS}, "
                                 f"found {_show(value)}")
        return value
    if key == "channels":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
            raise ConditionError(where, f"{fact}: channels must be a list of channel names")
        return tuple(sorted(value))
    if key == "notice":
        if not isinstance(value, str):
            raise ConditionError(where, f"{fact}: notice must be a notice id (a string)")
        return value
    return value


def _operator(fact: str, ftype: FactType | None, op: str, value: Any, where: tuple[str | int, ...]) -> Compare:
    if op == "exists":
        if not isinstance(value, bool):
            raise ConditionError(where, f"{fact}: exists takes true or false, found {_show(value)}")
        return Compare(fact, op, value, (), where)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ConditionError(where, f"{fact}: {op} takes a non-empty list, found {_show(value)}")
        items = tuple(_check_scalar(fact, ftype, v, where + (i,)) for i, v in enumerate(value))
        return Compare(fact, op, items, (), where)
    if op in _ORDERING and ftype in ("string", "boolean"):
        raise ConditionError(where, f"{fact} is a {ftype}: '{op}' cannot compare it (use eq, ne, in, not_in)")
    return Compare(fact, op, _check_scalar(fact, ftype, value, where), (), where)


def parse_condition(raw: Any, *, allow: frozenset[str] | None = None,
                    where: tuple[str | int, ...] = ()) -> Condition:
    """Parse a TOML condition table into a :data:`Condition`; raise :class:`ConditionError` when malformed.

    ``allow`` restricts which top-level facts may be used (segments cannot test ``segment``).
    """
    if not isinstance(raw, Mapping):
        raise ConditionError(where, f"a condition must be a table such as {{ dpd = {{ gte = 30 }} }}, "
                             f"found {_type_name(raw)}")
    items: list[Condition] = []
    for key, value in raw.items():
        here = where + (key,)
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(here, f"'{key}' takes a non-empty list of conditions")
            parts = tuple(parse_condition(v, allow=allow, where=here + (i,)) for i, v in enumerate(value))
            items.append(All(parts) if key == "all" else Any_(parts))
        elif key == "not":
            items.append(Not(parse_condition(value, allow=allow, where=here)))
        elif key in NAMESPACES:
            items.extend(_namespace(key, value, here))
        elif "." in key and key.split(".", 1)[0] in NAMESPACES:
            ns, sub = key.split(".", 1)
            items.extend(_namespace(ns, {sub: value}, where + (key,), flat=True))
        elif key in FACTS:
            if allow is not None and key not in allow:
                raise ConditionError(here, f"'{key}' cannot be used here" + (
                    ": a segment's condition decides the segment, so it cannot test it" if key == "segment" else ""))
            spec = FACTS[key]
            items.append(_predicate(key, spec.type, value, here, spec.params, spec.required_params))
        else:
            choices = [f for f in FACTS if allow is None or f in allow] + list(NAMESPACES) + list(_COMBINATORS)
            raise ConditionError(
                here, f"unknown fact '{key}'{did_you_mean(key, choices)} (allowed: {allowed_list(choices, 40)})"
            )
    if len(items) == 1:
        return items[0]
    return All(tuple(items))


def _namespace(ns: str, value: Any, where: tuple[str | int, ...], flat: bool = False) -> list[Condition]:
    if not isinstance(value, Mapping) or not value:
        raise ConditionError(where, f"'{ns}' takes a table such as {{ {ns}.name = ... }}")
    out: list[Condition] = []
    for sub, pred in value.items():
        here = where if flat else where + (sub,)
        if ns == "flags" and sub not in FLAG_NAMES:
            raise ConditionError(here, f"unknown flag '{sub}'{did_you_mean(sub, FLAG_NAMES)} "
                                 f"(allowed: {allowed_list(FLAG_NAMES)})")
        if ns == "contact" and sub not in ("phone", "email", "address"):
            raise ConditionError(here, f"unknown contact point '{sub}' (allowed: address, email, phone)")
        out.append(_predicate(f"{ns}.{sub}", NAMESPACES[ns], pred, here))
    return out


def requires_flag(cond: Condition | None, fact: str) -> bool:
    """Whether ``cond`` can only hold when the boolean ``fact`` (e.g. ``flags.cease_contact``) is true."""
    if cond is None:
        return False
    if isinstance(cond, Compare):
        return cond.fact == fact and not cond.params and (
            (cond.op == "eq" and cond.value is True) or (cond.op == "ne" and cond.value is False))
    if isinstance(cond, All):
        return any(requires_flag(item, fact) for item in cond.items)
    if isinstance(cond, Any_):
        return bool(cond.items) and all(requires_flag(item, fact) for item in cond.items)
    return False


def iter_compares(cond: Condition | None) -> list[Compare]:
    """Every comparison inside a condition, in order."""
    if cond is None:
        return []
    if isinstance(cond, Compare):
        return [cond]
    if isinstance(cond, Not):
        return iter_compares(cond.item)
    out: list[Compare] = []
    for item in cond.items:
        out.extend(iter_compares(item))
    return out


def condition_to_data(cond: Condition) -> Any:
    """A canonical JSON-ready form of a condition (used for digests and schema round-trips)."""
    if isinstance(cond, Compare):
        data: dict[str, Any] = {"fact": cond.fact, "op": cond.op, "value": _jsonable(cond.value)}
        if cond.params:
            data["params"] = {k: _jsonable(v) for k, v in cond.params}
        return data
    if isinstance(cond, Not):
        return {"not": condition_to_data(cond.item)}
    key = "all" if isinstance(cond, All) else "any"
    return {key: [condition_to_data(c) for c in cond.items]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
