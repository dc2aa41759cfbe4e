"""The template language: Jinja2 in a sandbox, the variables a template may use, and its checker.

The rule this module keeps: a template is checked with the same environment that renders it, so a text
the policy checker accepts never fails at send time for an unknown variable or a syntax error (and an
unknown variable is always an error, never an empty string). Rendering lives in
:mod:`policy_engine.deliver.templates`, which uses the environments defined here.

Templates see: ``account`` (the account record, its fields as in :class:`~policy_engine.data.records.Account`
plus ``customer_name``), ``stage``, ``dpd``, ``segment``, ``offer``, ``notice``, ``action``, ``channel``,
``policy``, ``as_of``, ``bank`` (the bank's own fields) and ``opt_out``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from policy_engine._exceptions import Issue, Location
from policy_engine.data.records import Account

__all__ = ["ACCOUNT_FIELDS", "HTML_ENVIRONMENT", "TEMPLATE_VARIABLES", "TEXT_ENVIRONMENT", "validate_template"]

ACCOUNT_FIELDS: frozenset[str] = frozenset(Account.model_fields) | {"name", "customer_name"}
"""What ``account.`` may read: every field of the account record, plus the customer's name."""

TEMPLATE_VARIABLES: dict[str, Collection[str] | None] = {
    "account": ACCOUNT_FIELDS,
    "stage": None,
    "dpd": None,
    "segment": None,
    "offer": None,
    "notice": None,
    "action": None,
    "channel": None,
    "policy": None,
    "as_of": None,
    "bank": None,
    "opt_out": None,
}
"""The variables a template may use; for ``account`` also the attributes it may read."""


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=autoescape, keep_trailing_newline=False
    )


TEXT_ENVIRONMENT = _environment(autoescape=False)
"""Renders text parts and subjects."""
HTML_ENVIRONMENT = _environment(autoescape=True)
"""Renders HTML parts (every variable escaped)."""


def validate_template(
    source: str,
    allowed_variables: Mapping[str, Collection[str] | None] | Iterable[str] = TEMPLATE_VARIABLES,
    *,
    file: str = "<template>",
) -> list[Issue]:
    """Problems of one template text: syntax errors and unknown variables, each with its line."""
    allowed: Mapping[str, Collection[str] | None]
    if isinstance(allowed_variables, Mapping):
        allowed = allowed_variables
    else:
        allowed = {name: None for name in allowed_variables}
    try:
        tree = TEXT_ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [Issue(Location(file, exc.lineno or 0), "", f"template syntax error: {exc.message}",
                      code="template_syntax")]
    issues: list[Issue] = []
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    seen: set[tuple[str, int]] = set()
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx != "load" or name_node.name in allowed or name_node.name in assigned:
            continue
        if (name_node.name, name_node.lineno) in seen:
            continue
        seen.add((name_node.name, name_node.lineno))
        issues.append(
            Issue(
                Location(file, name_node.lineno),
                name_node.name,
                f"unknown variable {name_node.name!r}",
                code="unknown_variable",
                hint="known: " + ", ".join(sorted(allowed)),
            )
        )
    for attr in tree.find_all(nodes.Getattr):
        target = attr.node
        if not isinstance(target, nodes.Name) or target.ctx != "load":
            continue
        fields = allowed.get(target.name)
        if fields is None or attr.attr in fields:
            continue
        issues.append(
            Issue(
                Location(file, attr.lineno),
                f"{target.name}.{attr.attr}",
                f"{target.name!r} has no field {attr.attr!r}",
                code="unknown_variable",
                hint="known: " + ", ".join(sorted(fields)),
            )
        )
    return sorted(issues, key=lambda i: (i.location.line, i.path))
