"""The template language: Jinja2 in a bounded, immutable sandbox, the variables a template may use, and
its checker.

The rule this module keeps: a template is checked with the same environment that renders it, so a text
the policy checker accepts never fails at send time for an unknown variable, an unknown field, a
syntax error or a construct the sandbox refuses (and an unknown variable is always an error, never an
empty string). The sandbox itself (no changes to data, no other files, bounded output and steps) is
:mod:`policy_engine.policy.sandbox`; rendering lives in :mod:`policy_engine.deliver.templates`.

Templates see: ``account`` (the account record, its fields as in :class:`~policy_engine.data.records.Account`
plus ``customer_name``), ``stage``, ``dpd``, ``segment``, ``offer`` (the fields of an offer), ``notice``,
``action``, ``channel``, ``policy``, ``as_of``, ``bank`` (the fields of the ``[bank]`` table) and
``opt_out``; inside a ``{% for %}``, also ``loop``; and Jinja's own ``range``, ``namespace``, ``dict``,
``cycler`` and ``joiner`` (``lipsum`` is not: the same decision gives the same message).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import jinja2
from jinja2 import nodes

from policy_engine._exceptions import Issue, Location
from policy_engine.data.records import Account, Contact, Flags, PreferredHours
from policy_engine.policy.models import Bank, Offer
from policy_engine.policy.sandbox import (
    FORBIDDEN_FILTERS,
    FORBIDDEN_GLOBALS,
    MUTATING_METHODS,
    environment,
    structure_problems,
)
from policy_engine.policy.suggest import did_you_mean

__all__ = [
    "ACCOUNT_FIELDS",
    "BANK_FIELDS",
    "HTML_ENVIRONMENT",
    "OFFER_FIELDS",
    "TEMPLATE_VARIABLES",
    "TEXT_ENVIRONMENT",
    "validate_template",
]

ACCOUNT_FIELDS: frozenset[str] = frozenset(Account.model_fields) | {"name", "customer_name"}
"""What ``account.`` may read: every field of the account record, plus the customer's name."""
OFFER_FIELDS: frozenset[str] = frozenset(Offer.model_fields) - {"when"}
"""What ``offer.`` may read: the terms of an offer (its condition is not shown to templates)."""
BANK_FIELDS: frozenset[str] = frozenset(Bank.model_fields)
"""What ``bank.`` may read: the fields of the ``[bank]`` table."""
_ACCOUNT_GROUPS: dict[str, frozenset[str]] = {
    "contact": frozenset(Contact.model_fields),
    "flags": frozenset(Flags.model_fields),
    "preferred_hours": frozenset(PreferredHours.model_fields),
}

TEMPLATE_VARIABLES: dict[str, Collection[str] | None] = {
    "account": ACCOUNT_FIELDS,
    "stage": None,
    "dpd": None,
    "segment": None,
    "offer": OFFER_FIELDS,
    "notice": None,
    "action": None,
    "channel": None,
    "policy": None,
    "as_of": None,
    "bank": BANK_FIELDS,
    "opt_out": None,
}
"""The variables a template may use; for ``account``, ``offer`` and ``bank`` also the fields it may read."""

TEXT_ENVIRONMENT = environment(html=False)
"""Renders text parts and subjects."""
HTML_ENVIRONMENT = environment(html=True)
"""Renders HTML parts (every variable escaped)."""


def _issue(file: str, line: int, path: str, message: str, code: str, hint: str | None = None) -> Issue:
    return Issue(Location(file, line), path, message, code=code, hint=hint)


def _loop_names(tree: nodes.Template) -> set[int]:
    """Ids of the ``loop`` name nodes that sit inside a for loop's body (where ``loop`` exists)."""
    inside: set[int] = set()
    for loop in tree.find_all(nodes.For):
        for part in loop.body:
            inside.update(id(name) for name in part.find_all(nodes.Name) if name.name == "loop")
    return inside


def _unknown_names(tree: nodes.Template, allowed: Mapping[str, Collection[str] | None], file: str) -> list[Issue]:
    issues: list[Issue] = []
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    assigned |= {macro.name for macro in tree.find_all(nodes.Macro)}
    assigned |= set(TEXT_ENVIRONMENT.globals)  # range, namespace, dict, cycler, joiner: bounded by the sandbox
    in_loops = _loop_names(tree)
    seen: set[tuple[str, int]] = set()
    for name_node in tree.find_all(nodes.Name):
        name = name_node.name
        if name_node.ctx != "load" or name in allowed or name in assigned or id(name_node) in in_loops \
                or name in FORBIDDEN_GLOBALS:  # reported as not allowed
            continue
        if (name, name_node.lineno) in seen:
            continue
        seen.add((name, name_node.lineno))
        issues.append(_issue(file, name_node.lineno, name, f"unknown variable {name!r}{did_you_mean(name, allowed)}",
                             "unknown_variable", "known: " + ", ".join(sorted(allowed))))
    return issues


def _unknown_fields(tree: nodes.Template, allowed: Mapping[str, Collection[str] | None], file: str) -> list[Issue]:
    issues: list[Issue] = []
    for attr in tree.find_all(nodes.Getattr):
        target = attr.node
        if isinstance(target, nodes.Name) and target.ctx == "load":
            owner, fields = target.name, allowed.get(target.name)
        elif isinstance(target, nodes.Getattr) and isinstance(target.node, nodes.Name) \
                and target.node.name == "account" and allowed.get("account") is ACCOUNT_FIELDS:
            owner, fields = f"account.{target.attr}", _ACCOUNT_GROUPS.get(target.attr)
        else:
            continue
        if fields is None or attr.attr in fields or attr.attr.startswith("_") or attr.attr in MUTATING_METHODS:
            continue  # private attributes and methods that change data are reported as not allowed
        issues.append(_issue(file, attr.lineno, f"{owner}.{attr.attr}",
                             f"{owner!r} has no field {attr.attr!r}{did_you_mean(attr.attr, fields)}",
                             "unknown_variable", "known: " + ", ".join(sorted(fields))))
    return issues


def _unknown_filters(tree: nodes.Template, file: str) -> list[Issue]:
    issues: list[Issue] = []
    for kind, known, word in ((nodes.Filter, TEXT_ENVIRONMENT.filters, "filter"),
                              (nodes.Test, TEXT_ENVIRONMENT.tests, "test")):
        public = [name for name in known if not name.startswith("_")]
        for used in tree.find_all(kind):
            if used.name not in known and used.name not in FORBIDDEN_FILTERS:
                issues.append(_issue(file, used.lineno, used.name,
                                     f"unknown {word} {used.name!r}{did_you_mean(used.name, public)}",
                                     f"unknown_{word}"))
    return issues


def validate_template(
    source: str,
    allowed_variables: Mapping[str, Collection[str] | None] | Iterable[str] = TEMPLATE_VARIABLES,
    *,
    file: str = "<template>",
) -> list[Issue]:
    """Problems of one template text, each with its line: syntax errors, constructs the sandbox refuses
    (``{% include %}``, a call that changes data, ...), unknown filters, variables and fields."""
    allowed: Mapping[str, Collection[str] | None]
    if isinstance(allowed_variables, Mapping):
        allowed = allowed_variables
    else:
        allowed = {name: None for name in allowed_variables}
    try:
        tree = TEXT_ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [_issue(file, exc.lineno or 0, "", f"template syntax error: {exc.message}", "template_syntax")]
    issues = [_issue(file, line, what, why, "template_not_allowed") for line, what, why in structure_problems(tree)]
    issues += _unknown_filters(tree, file)
    issues += _unknown_names(tree, allowed, file)
    issues += _unknown_fields(tree, allowed, file)
    if not issues:
        try:  # what only compiling finds (a misplaced {% break %}, a duplicate block)
            TEXT_ENVIRONMENT.compile(tree)
        except jinja2.TemplateSyntaxError as exc:
            issues.append(_issue(file, exc.lineno or 0, "", f"template syntax error: {exc.message}",
                                 "template_syntax"))
    return sorted(issues, key=lambda i: (i.location.line, i.path))
