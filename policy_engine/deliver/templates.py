"""Message templates: Jinja2 in a sandbox, where an unknown variable is an error, never an empty string.

A template store is a folder of files named ``ID[.LANG].PART``: ``PART`` is ``txt`` (the text, required),
``html`` (an HTML alternative, for email) or ``subject``. ``arrears_notice.zh-CN.txt`` is chosen for an
account whose ``language`` is ``zh-CN``, then ``arrears_notice.zh.txt``, then ``arrears_notice.txt``.

Templates see: ``account`` (the account record), ``stage``, ``dpd``, ``segment``, ``offer``, ``notice``,
``action``, ``channel``, ``policy``, ``as_of`` and ``bank`` (the bank's own fields from the context).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

from policy_engine._exceptions import Issue, Location, TemplateError
from policy_engine.hookspecs import Message

__all__ = [
    "ACCOUNT_FIELDS",
    "TEMPLATE_VARIABLES",
    "TemplateError",
    "TemplateSource",
    "TemplateStore",
    "render",
    "validate_store",
    "validate_template",
    "with_opt_out",
]

PARTS = ("txt", "html", "subject")

ACCOUNT_FIELDS: frozenset[str] = frozenset(
    {
        "account_id", "customer_id", "region", "timezone", "currency", "balance", "amount_past_due",
        "minimum_due", "delinquent_since", "credit_score", "prior_delinquencies", "product", "language",
        "contact", "consent", "flags", "attributes", "name", "customer_name",
    }
)

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


@dataclass(frozen=True)
class TemplateSource:
    """The parts of one template in one language, and where they came from."""

    id: str
    text: str
    html: str | None = None
    subject: str | None = None
    language: str | None = None
    origin: Mapping[str, str] = field(default_factory=dict)

    def parts(self) -> dict[str, str]:
        """The parts present, by name (``txt``, ``html``, ``subject``)."""
        found = {"txt": self.text, "html": self.html, "subject": self.subject}
        return {k: v for k, v in found.items() if v is not None}


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=autoescape, keep_trailing_newline=False
    )


_TEXT_ENV = _environment(autoescape=False)
_HTML_ENV = _environment(autoescape=True)


class TemplateStore:
    """Templates by id and language, read from a folder or given as a mapping."""

    def __init__(self, sources: Iterable[TemplateSource] = ()) -> None:
        self._sources: dict[tuple[str, str | None], TemplateSource] = {}
        for source in sources:
            self._sources[(source.id, source.language)] = source

    @classmethod
    def from_directory(cls, directory: str | Path) -> TemplateStore:
        """Read every ``ID[.LANG].PART`` file of a folder."""
        root = Path(directory)
        if not root.is_dir():
            raise TemplateError(f"template folder {str(root)!r} does not exist")
        found: dict[tuple[str, str | None], dict[str, tuple[str, str]]] = {}
        for path in sorted(root.iterdir()):
            pieces = path.name.split(".")
            if not path.is_file() or len(pieces) not in (2, 3) or pieces[-1] not in PARTS:
                continue
            language = pieces[1] if len(pieces) == 3 else None
            found.setdefault((pieces[0], language), {})[pieces[-1]] = (path.read_text("utf-8"), str(path))
        sources = []
        for (template_id, language), parts in found.items():
            if "txt" not in parts:
                raise TemplateError(f"template {template_id!r} ({language or 'default'}) has no .txt part")
            sources.append(
                TemplateSource(
                    id=template_id,
                    language=language,
                    text=parts["txt"][0],
                    html=parts["html"][0] if "html" in parts else None,
                    subject=parts["subject"][0].strip() if "subject" in parts else None,
                    origin={name: where for name, (_, where) in parts.items()},
                )
            )
        return cls(sources)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Mapping[str, str] | str]) -> TemplateStore:
        """Templates from ``{"id": "text"}`` or ``{"id[.LANG]": {"txt": ..., "html": ..., "subject": ...}}``."""
        sources = []
        for name, value in data.items():
            template_id, _, language = name.partition(".")
            parts = {"txt": value} if isinstance(value, str) else dict(value)
            sources.append(
                TemplateSource(
                    id=template_id,
                    language=language or None,
                    text=parts.get("txt", parts.get("text", "")),
                    html=parts.get("html"),
                    subject=parts.get("subject"),
                    origin={part: f"<template {name}.{part}>" for part in parts},
                )
            )
        return cls(sources)

    def ids(self) -> list[str]:
        """Every template id in the store."""
        return sorted({template_id for template_id, _ in self._sources})

    def sources(self) -> list[TemplateSource]:
        """Every template in every language."""
        return list(self._sources.values())

    def get(self, template_id: str, language: str | None = None) -> TemplateSource:
        """The template for a language: exact tag, then its base language, then the default."""
        candidates: list[str | None] = []
        if language:
            candidates.append(language)
            base = language.split("-")[0]
            if base != language:
                candidates.append(base)
        candidates.append(None)
        for candidate in candidates:
            source = self._sources.get((template_id, candidate))
            if source is not None:
                return source
        raise TemplateError(f"template {template_id!r} does not exist")


def render(source: TemplateSource, variables: Mapping[str, Any]) -> Message:
    """Render every part of a template; TemplateError names the template and the problem."""
    try:
        text = _TEXT_ENV.from_string(source.text).render(variables)
        html = _HTML_ENV.from_string(source.html).render(variables) if source.html is not None else None
        subject = _TEXT_ENV.from_string(source.subject).render(variables) if source.subject else None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {source.id!r}: {exc.__class__.__name__}: {exc}") from exc
    return Message(
        text=text, html=html, subject=subject.strip() if subject else None, template=source.id,
        language=source.language,
    )


def with_opt_out(message: Message, line: str) -> Message:
    """The message with an opt-out line appended to its text (and HTML), unless it already carries it."""
    if not line or line in message.text:
        return message
    html = message.html
    if html is not None and line not in html:
        html = f"{html}\n<p class=\"opt-out\">{escape(line)}</p>"
    return replace(message, text=f"{message.text.rstrip()}\n\n{line}", html=html)


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
        tree = _TEXT_ENV.parse(source)
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


def validate_store(
    store: TemplateStore,
    usages: Iterable[tuple[str, str]] = (),
    registry: Any = None,
    allowed_variables: Mapping[str, Collection[str] | None] = TEMPLATE_VARIABLES,
) -> list[Issue]:
    """Every problem of a template store: each part in each language, plus the content rules of the
    channels that use a template (``usages`` = (channel name, template id) pairs, checked by the
    plugins of ``registry`` through ``policy_engine_validate_template``). Unknown template ids are issues.
    """
    issues: list[Issue] = []
    for source in store.sources():
        for part, text in source.parts().items():
            where = source.origin.get(part, f"<template {source.id}.{part}>")
            issues += validate_template(text, allowed_variables, file=where)
    channels = registry.registered_channels() if registry is not None else {}
    for channel_name, template_id in usages:
        variants = [s for s in store.sources() if s.id == template_id]
        if not variants:
            issues.append(Issue(Location(""), template_id, f"template {template_id!r} does not exist",
                                code="unknown_template"))
            continue
        spec = channels.get(channel_name)
        if spec is None:
            continue
        for source in variants:
            for part, text in source.parts().items():
                found = registry.hook.policy_engine_validate_template(
                    channel=spec, template_id=template_id, source=text
                )
                where = source.origin.get(part, f"<template {source.id}.{part}>")
                for plugin_issues in found:
                    issues += [replace(i, location=Location(where, i.location.line)) for i in plugin_issues or []]
    return issues
