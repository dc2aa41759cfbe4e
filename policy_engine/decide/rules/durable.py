"""The `durable` backend: every condition becomes a durable_rules rule over one flat fact per account.

How a phase ("segments" or "rules") is translated
------------------------------------------------
1. **Keys.** Every distinct ``(fact, params)`` compared in the phase gets a synthetic key ``f0``, ``f1``...
   Per account, :meth:`FactContext.value` computes each value in Python (exactly what the compiled backend
   reads); the values are flattened into one fact dict ``{"pe": 1, "id": n, "f0": ..., "f1": ...}``.
   A missing value (None) is left out of the dict, so durable sees the field as absent.
2. **Values are rank codes, never raw values.** For each key the backend collects, at build time, the
   distinct constants it is compared with, per class: numbers (int, Decimal and bool, which Python
   compares numerically: ``True == 1``) and strings. A value ``v`` is sent as its position among those
   sorted constants: ``2*i + 1`` when ``v`` equals the i-th constant, ``2*i`` when it falls between the
   (i-1)-th and the i-th. Every ``v op constant`` is then ``code(v) op code(constant)`` on small integers,
   which is *exactly* Python's comparison: no Decimal-to-double rounding (a balance of
   ``1000.0000000000000001`` is still greater than 1000), strings ordered by code point as in Python, and
   no durable coercion (durable_rules compares the string ``"1"`` equal to the number ``1``; Python does
   not). Facts with a fixed type (every fact of :data:`FACTS`, ``flags.*``, ``consent.*``, ``contact.*``)
   use one field. Free-form ``attributes.*`` may hold any type, so they use three: ``fNn`` (the numeric
   code, only when the value is a number, for orderings), ``fNs`` (the string code, only when it is a
   string, for orderings) and ``fN`` (a code unique across classes, present for any value, used by
   eq/ne/in/not_in/exists). A value that is neither number nor string (a list, a table, NaN) only gets
   the code -1: it equals no constant, differs from every one and is not ordered, as in Python (where
   the ordering raises TypeError, read as False).
   A comparison whose constant is itself a list or a table (possible only on ``attributes.*``) cannot be
   coded: it is computed in Python and sent as a 0/1 field ``gN``.
3. **Operators.** eq, ne, lt, lte, gt, gte map to durable's field, ``$neq``, ``$lt``... ``in`` becomes an
   ``$or`` of equalities, ``not_in`` an ``$and`` of inequalities; ``exists`` becomes ``$ex``/``$nex``.
   durable never matches a comparison on an absent field (``$neq`` included), which is the compiled
   backend's "a missing value satisfies nothing".
4. **Not** is pushed down to the comparisons with De Morgan (all <-> any), and a negated comparison says
   what the compiled backend means by ``not``: ``not (x < 5)`` is ``x missing OR x >= 5`` (OR, for a
   free-form attribute, ``x present but not a number``); ``not (x == 5)`` is ``x missing OR x != 5``;
   ``not (x in [..])`` is ``x missing OR x not_in [..]``. ``all``/``any`` with no items fold to true/false.
5. **Anchor.** Each rule is ``$and: [{"pe": 1}, <condition>]``. durable_rules 2.0.28 hangs (spins
   forever inside ``assert_fact``) on a rule, or an ``$or`` branch, made of ``$nex`` tests only; the
   anchor puts a positive test into every branch.

Matching: one durable ruleset per (policy, phase), one session (sid "0"), and per account one
``assert_fact`` then ``retract_fact`` (facts, unlike events, fire *every* matching rule). durable fires an
``$or`` once per satisfied branch: activations are collected as a set of rule indices. durable raises
``MessageNotHandledException`` when nothing matched; only that one is caught. A phase without rules
returns an empty set without calling durable.

Process-global state: durable_rules keeps its rulesets in C handles owned by a host object, by name. This
module uses one private host per process (a :class:`durable.engine.Host` whose background dispatch and
timer threads are not started: no rule here uses timers or asynchronous actions, and with many rulesets
registered those threads spin and halve throughput) and a registry of the rulesets it created. The
durable name is ``{name}_{phase}_{fingerprint}``: ``name`` embeds the policy digest and the fingerprint
is a hash of the durable JSON, so building the same policy twice reuses the ruleset already registered,
and two different rule lists given the same name do not collide. (Reuse only needs identical durable
JSON: the Python side, which turns an account into codes and fired rules into names, is per instance.)
Registered rulesets live as long as the process. Matching holds a process-wide lock, so concurrent
threads are safe but serialised: evaluate one account at a time per process (use processes, not
threads, to scale).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from durable import engine as durable_engine
from durable.engine import MessageNotHandledException

from policy_engine.decide.facts import FactContext, compare_values
from policy_engine.decide.rules.base import NamedCondition
from policy_engine.policy.conditions import FACTS, NAMESPACES, All, Any_, Compare, Condition, Not

__all__ = ["DurableRuleSet", "MAX_BRANCHES", "translate"]

ANCHOR = "pe"
MAX_BRANCHES = 4096  # alternatives (DNF terms) durable matches in one test; beyond, a rule is split
_SID = "0"

Kind = Literal["number", "string", "dynamic"]
ValueClass = Literal["number", "string", "other"]

# -- value classes and rank codes ---------------------------------------------------------------------------


def _class_of(value: Any) -> ValueClass:
    """How Python compares ``value``: as a number (bool, int, float, Decimal), as a string, or neither."""
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bool, int)):
        return "number"
    if isinstance(value, (float, Decimal)):
        return "other" if value != value else "number"  # NaN: equal to nothing, ordered with nothing
    return "other"


def _rank(sorted_constants: Sequence[Any], value: Any) -> int:
    """``2*i + 1`` when ``value`` equals the i-th constant, else ``2*i`` with i its insertion point."""
    i = bisect_left(sorted_constants, value)
    if i < len(sorted_constants) and sorted_constants[i] == value:
        return 2 * i + 1
    return 2 * i


def _kind_of(fact: str) -> Kind:
    spec = FACTS.get(fact)
    ftype = spec.type if spec is not None else NAMESPACES.get(fact.partition(".")[0])
    if ftype == "string":
        return "string"
    if ftype in ("number", "integer", "boolean"):
        return "number"
    return "dynamic"  # attributes.*: any JSON value


@dataclass
class _Key:
    """One ``(fact, params)`` as fed to durable: its field names and the constants it is compared with."""

    index: int
    fact: str
    params: tuple[tuple[str, Any], ...]
    kind: Kind
    numbers: list[Any] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)

    @property
    def code_field(self) -> str:
        """The field present whenever the value is (eq, ne, in, not_in and exists use it)."""
        return f"f{self.index}"

    def channel(self, cls: ValueClass) -> str | None:
        """The field holding the value's rank code when it is of class ``cls``; None if it never is."""
        if self.kind == "dynamic":
            return {"number": f"f{self.index}n", "string": f"f{self.index}s"}.get(cls)
        return self.code_field if cls == self.kind else None

    def class_code(self, cls: ValueClass, value: Any) -> int:
        return _rank(self.numbers if cls == "number" else self.strings, value)

    def _string_base(self) -> int:
        return 2 * len(self.numbers) + 2

    def code(self, value: Any) -> int:
        """The value of :attr:`code_field` for ``value`` (a constant or a fact value of a coded class)."""
        cls = _class_of(value)
        if self.kind != "dynamic":
            return self.class_code(cls, value)
        if cls == "number":
            return self.class_code(cls, value)
        if cls == "string":
            return self._string_base() + self.class_code(cls, value)
        return -1

    def encode(self, value: Any, into: dict[str, Any]) -> None:
        """Add the fields of a fact value (absent when None) to the durable fact."""
        if value is None:
            return
        cls = _class_of(value)
        if self.kind == "dynamic":
            into[self.code_field] = self.code(value)
            if cls != "other":
                chan = self.channel(cls)
                assert chan is not None
                into[chan] = self.class_code(cls, value)
            return
        if cls != self.kind:
            raise TypeError(f"durable backend: {self.fact} is a {self.kind} fact but has the value {value!r}")
        into[self.code_field] = self.class_code(cls, value)



# -- negation normal form -----------------------------------------------------------------------------------

# A node is True, False, ("lit", {durable test}), ("and", [nodes]) or ("or", [nodes]).
Node = Any
_NEGATE = {"lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt"}
_DURABLE_OP = {"lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


def _lit(op: str, name: str, value: Any) -> Node:
    if op == "$eq":
        return ("lit", {name: value})
    return ("lit", {op: {name: value}})


def _and(items: list[Node]) -> Node:
    out: list[Node] = []
    for item in items:
        if item is False:
            return False
        if item is True:
            continue
        if isinstance(item, tuple) and item[0] == "and":
            out.extend(item[1])
        else:
            out.append(item)
    if not out:
        return True
    return out[0] if len(out) == 1 else ("and", out)


def _or(items: list[Node]) -> Node:
    out: list[Node] = []
    for item in items:
        if item is True:
            return True
        if item is False:
            continue
        if isinstance(item, tuple) and item[0] == "or":
            out.extend(item[1])
        elif item not in out:
            out.append(item)
    if not out:
        return False
    return out[0] if len(out) == 1 else ("or", out)


def _codable(cmp: Compare) -> bool:
    """Whether the constant(s) of ``cmp`` are numbers or strings (rank-codable)."""
    if cmp.op == "exists":
        return True
    values = cmp.value if cmp.op in ("in", "not_in") and isinstance(cmp.value, tuple) else (cmp.value,)
    return all(_class_of(v) != "other" for v in values)


class _Translator:
    """Builds the keys of one phase and turns conditions into NNF trees over their fields."""

    def __init__(self, conditions: Sequence[Condition]) -> None:
        self.keys: dict[tuple[str, tuple[tuple[str, Any], ...]], _Key] = {}
        self.fallback: list[Compare] = []  # compares computed in Python (constant is a list or table)
        self._fallback_ids: dict[int, int] = {}
        numbers: dict[int, set[Any]] = {}
        strings: dict[int, set[str]] = {}
        for cond in conditions:
            for cmp in _compares(cond):
                if not _codable(cmp):
                    if id(cmp) not in self._fallback_ids:
                        self._fallback_ids[id(cmp)] = len(self.fallback)
                        self.fallback.append(cmp)
                    continue
                key = self.keys.get((cmp.fact, cmp.params))
                if key is None:
                    key = _Key(len(self.keys), cmp.fact, cmp.params, _kind_of(cmp.fact))
                    self.keys[(cmp.fact, cmp.params)] = key
                    numbers[key.index], strings[key.index] = set(), set()
                if cmp.op == "exists":
                    continue
                values = cmp.value if cmp.op in ("in", "not_in") else (cmp.value,)
                for v in values:
                    cls = _class_of(v)
                    if cls == "number":
                        numbers[key.index].add(v)
                    elif cls == "string":
                        strings[key.index].add(v)
        for key in self.keys.values():
            # one representative per numeric value (1 == 1.0 == True); sort by value
            key.numbers = sorted(numbers[key.index])
            key.strings = sorted(strings[key.index])

    # positive comparison with Python's semantics on a present value; absent -> never holds
    def _positive(self, key: _Key, op: str, value: Any) -> Node:
        if op == "exists":
            return self._present(key) if value else self._absent(key)
        if op == "in":
            return _or([self._positive(key, "eq", v) for v in value])
        if op == "not_in":
            return _and([self._positive(key, "ne", v) for v in value])
        cls = _class_of(value)
        chan = key.channel(cls)
        if op == "eq":
            return False if chan is None else _lit("$eq", key.code_field, key.code(value))
        if op == "ne":
            return self._present(key) if chan is None else _lit("$neq", key.code_field, key.code(value))
        if chan is None:  # an ordering across classes raises TypeError in Python: False
            return False
        return _lit(_DURABLE_OP[op], chan, key.class_code(cls, value))

    def _negative(self, key: _Key, op: str, value: Any) -> Node:
        """``not (fact op value)``: the value is missing, or present and the comparison fails."""
        if op == "exists":
            return self._absent(key) if value else self._present(key)
        complement = {"eq": "ne", "ne": "eq", "in": "not_in", "not_in": "in"}.get(op)
        if complement is not None:
            return _or([self._absent(key), self._positive(key, complement, value)])
        cls = _class_of(value)
        chan = key.channel(cls)
        if chan is None:
            return True  # the ordering never holds, so its negation always does
        other_class: Node = False
        if key.kind == "dynamic":
            other_class = _and([self._present(key), _lit("$nex", chan, 1)])
        return _or([self._absent(key), self._positive(key, _NEGATE[op], value), other_class])

    @staticmethod
    def _present(key: _Key) -> Node:
        return _lit("$ex", key.code_field, 1)

    @staticmethod
    def _absent(key: _Key) -> Node:
        return _lit("$nex", key.code_field, 1)

    def nnf(self, cond: Condition, negated: bool = False) -> Node:
        """The condition (or its negation) with Not pushed down to the comparisons."""
        if isinstance(cond, Compare):
            if not _codable(cond):
                return _lit("$eq", f"g{self._fallback_ids[id(cond)]}", 0 if negated else 1)
            key = self.keys[(cond.fact, cond.params)]
            return self._negative(key, cond.op, cond.value) if negated else \
                self._positive(key, cond.op, cond.value)
        if isinstance(cond, Not):
            return self.nnf(cond.item, not negated)
        if isinstance(cond, All):
            parts = [self.nnf(c, negated) for c in cond.items]
            return _or(parts) if negated else _and(parts)
        if isinstance(cond, Any_):
            parts = [self.nnf(c, negated) for c in cond.items]
            return _and(parts) if negated else _or(parts)
        raise TypeError(f"not a condition: {cond!r}")


def _compares(cond: Condition) -> Iterator[Compare]:
    if isinstance(cond, Compare):
        yield cond
    elif isinstance(cond, Not):
        yield from _compares(cond.item)
    else:
        for item in cond.items:
            yield from _compares(item)


def _branches(node: Node) -> int:
    """How many alternatives (DNF terms) durable expands ``node`` into."""
    if node is True or node is False or node[0] == "lit":
        return 1
    counts = [_branches(n) for n in node[1]]
    if node[0] == "or":
        return sum(counts)
    total = 1
    for n in counts:
        total *= n
    return total


def _to_json(node: Node) -> dict[str, Any]:
    if node[0] == "lit":
        return dict(node[1])
    return {"$and" if node[0] == "and" else "$or": [_to_json(n) for n in node[1]]}


Circuit = Any
"""How a rule's truth is read off the fired durable tests: ("test", index) or ("and"|"or", [circuits])."""


def _test_of(node: Node) -> dict[str, Any] | None:
    """The anchored durable test of a node small enough for durable (None: it never holds)."""
    if node is False:
        return None
    anchor: dict[str, Any] = {ANCHOR: 1}
    if node is True:
        return anchor
    if node[0] == "and":
        return {"$and": [anchor, *(_to_json(n) for n in node[1])]}
    return {"$and": [anchor, _to_json(node)]}


def _split(node: Node, tests: list[dict[str, Any] | None]) -> Circuit:
    """Register ``node`` as durable tests of at most MAX_BRANCHES alternatives each, combined in Python.

    durable expands a condition into its disjunctive normal form, which grows as the product of the
    branches of an ``all``; past the limit the condition is cut at its top ``and``/``or`` into parts that
    durable matches one by one, and the rule holds when the parts' results combine to true.
    """
    if node is True or node is False or node[0] == "lit" or _branches(node) <= MAX_BRANCHES:
        tests.append(_test_of(node))
        return ("test", len(tests) - 1)
    return (node[0], [_split(child, tests) for child in node[1]])


def holds(circuit: Circuit, fired: set[int]) -> bool:
    """Whether a split rule holds, given the indices of the durable tests that fired."""
    if circuit[0] == "test":
        return circuit[1] in fired
    parts = (holds(part, fired) for part in circuit[1])
    return all(parts) if circuit[0] == "and" else any(parts)


def translate(conditions: Sequence[Condition]) -> tuple[_Translator, list[dict[str, Any] | None], list[Circuit]]:
    """The keys of a phase, the durable tests to register (None: never holds), and per condition its
    circuit over those tests: test ``i`` for condition ``i`` when it fits durable whole (None as circuit),
    further tests after them for the parts of conditions too large to match whole."""
    tr = _Translator(conditions)
    nodes = [tr.nnf(cond) for cond in conditions]
    tests: list[dict[str, Any] | None] = []
    large: list[int] = []
    for index, node in enumerate(nodes):
        fits = node is True or node is False or _branches(node) <= MAX_BRANCHES
        tests.append(_test_of(node) if fits else None)
        if not fits:
            large.append(index)
    circuits: list[Circuit] = [None] * len(nodes)
    for index in large:
        circuits[index] = _split(nodes[index], tests)
    return tr, tests, circuits


# -- durable host and registry ------------------------------------------------------------------------------

_LOCK = threading.RLock()
_HOST: Any = None


@dataclass
class _Registered:
    """A durable ruleset this module registered, shared by every DurableRuleSet built with the same rules."""

    name: str
    sink: list[int]  # indices of the rules fired by the fact being matched (filled under _LOCK)
    ids: Iterator[int]


_REGISTRY: dict[str, _Registered] = {}


def _host() -> Any:
    global _HOST
    if _HOST is None:

        class _QuietHost(durable_engine.Host):
            """A host without the background dispatch/timer threads (no timers, no async actions here)."""

            def _run(self) -> None:
                return None

        _HOST = _QuietHost()
    return _HOST


def _action(sink: list[int], index: int) -> Callable[[Any], None]:
    def record(activation: Any) -> None:  # runs inside assert_fact, on the caller's thread (no dispatch threads)
        sink.append(index)

    return record


def _register(name: str, tests: list[dict[str, Any] | None]) -> _Registered:
    with _LOCK:
        found = _REGISTRY.get(name)
        if found is not None:
            return found
        sink: list[int] = []
        definition = {
            f"r{i}": {"all": [{"m": test}], "run": _action(sink, i)}
            for i, test in enumerate(tests) if test is not None
        }
        _host().register_rulesets({name: definition})
        found = _Registered(name, sink, itertools.count(1))
        _REGISTRY[name] = found
        return found


# -- the backend --------------------------------------------------------------------------------------------


@dataclass
class _Phase:
    names: list[str]  # rule index -> rule name
    keys: list[_Key]
    fallback: list[Compare]
    definition: dict[str, Any]  # rule index name -> durable test (what is registered, without actions)
    registered: _Registered | None  # None when no rule of the phase can hold
    circuits: list[Circuit]  # per rule: None when test i is rule i, else how its parts combine


class DurableRuleSet:
    """Rules translated to durable_rules; same results as the compiled backend (see the module doc)."""

    backend = "durable"

    def __init__(self, rules: list[NamedCondition], name: str) -> None:
        self.name = name
        self._phases: dict[str, _Phase] = {}
        by_phase: dict[str, list[NamedCondition]] = {}
        for rule in rules:
            by_phase.setdefault(rule.phase, []).append(rule)
        for phase, phase_rules in by_phase.items():
            tr, tests, circuits = translate([r.condition for r in phase_rules])
            definition = {f"r{i}": t for i, t in enumerate(tests) if t is not None}
            keys = sorted(tr.keys.values(), key=lambda k: k.index)
            fingerprint = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]
            registered = None
            if definition:
                registered = _register(f"{name}_{phase}_{fingerprint}", tests)
            self._phases[phase] = _Phase([r.name for r in phase_rules], keys, tr.fallback, definition,
                                         registered, circuits)

    def definition(self, phase: str) -> dict[str, Any]:
        """The durable tests of ``phase`` (rule index -> JSON), for inspection and tests."""
        found = self._phases.get(phase)
        return dict(found.definition) if found else {}

    def durable_name(self, phase: str) -> str | None:
        """The name of the durable ruleset of ``phase`` (None when durable is not used for it)."""
        found = self._phases.get(phase)
        return found.registered.name if found and found.registered else None

    def fact(self, ctx: FactContext, phase: str, fact_id: int = 0) -> dict[str, Any]:
        """The flat durable fact of ``ctx`` for ``phase``."""
        p = self._phases[phase]
        data: dict[str, Any] = {"id": fact_id, "sid": _SID, ANCHOR: 1}
        for key in p.keys:
            key.encode(ctx.value(key.fact, key.params), data)
        for i, cmp in enumerate(p.fallback):
            data[f"g{i}"] = 1 if compare_values(cmp.op, ctx.value(cmp.fact, cmp.params), cmp.value) else 0
        return data

    def match(self, ctx: FactContext, phase: str) -> frozenset[str]:
        """Names of the rules of ``phase`` that hold."""
        p = self._phases.get(phase)
        if p is None or p.registered is None:
            return frozenset()
        reg = p.registered
        data = self.fact(ctx, phase)
        host = _host()
        with _LOCK:
            data["id"] = next(reg.ids)
            reg.sink.clear()
            try:
                with contextlib.suppress(MessageNotHandledException):  # raised when no rule matched
                    host.assert_fact(reg.name, data)
            finally:
                with contextlib.suppress(MessageNotHandledException):
                    host.retract_fact(reg.name, data)
            fired = set(reg.sink)
            reg.sink.clear()
        return frozenset(name for i, name in enumerate(p.names)
                         if (i in fired if p.circuits[i] is None else holds(p.circuits[i], fired)))
