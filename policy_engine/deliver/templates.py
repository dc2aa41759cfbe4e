"""Message templates at send time: the template store, rendering, and the opt-out line.

The template language itself (the variables a template may use and the checker) is
:mod:`policy_engine.policy.templates`, its sandbox :mod:`policy_engine.policy.sandbox`; rendering here
goes through the same bounded, immutable sandbox over read-only copies of the variables, so an unknown
variable is an error (never an empty string), a template cannot change the account or the context the
next message reads, and a runaway template stops with a TemplateError naming the bound it hit.

A template store is a folder of files named ``ID[.LANG].PART``: ``PART`` is ``txt`` (the text, required),
``html`` (an HTML alternative, for email) or ``subject``. ``arrears_notice.zh-CN.txt`` is chosen for an
account whose ``language`` is ``zh-CN``, then ``arrears_notice.zh.txt``, then ``arrears_notice.txt``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import escape

from policy_engine._exceptions import Issue, Location, TemplateError
from policy_engine.data.records import Account
from policy_engine.hookspecs import Message
from policy_engine.policy.channels import ChannelCatalogue
from policy_engine.policy.sandbox import read_only, render_bounded
from policy_engine.policy.templates import ACCOUNT_FIELDS, TEMPLATE_VARIABLES, validate_template

__all__ = [
    "ACCOUNT_FIELDS",
    "read_only",
    "TEMPLATE_VARIABLES",
    "TemplateError",
    "TemplateSource",
    "TemplateStore",
    "render",
    "template_account",
    "validate_store",
    "validate_template",
    "with_opt_out",
]

PARTS = ("txt", "html", "subject")


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


def template_account(account: Account) -> dict[str, Any]:
    """The account as templates and channel hooks see it: the record as JSON plus ``customer_name``
    (and ``name``), empty when unknown."""
    data = account.model_dump(mode="json")
    data["name"] = data["customer_name"] = account.name or ""
    return data


def render(source: TemplateSource, variables: Mapping[str, Any]) -> Message:
    """Render every part of a template in the bounded sandbox, over read-only copies of ``variables``;
    TemplateError names the template, the part and the problem, in one line."""
    frozen = read_only(variables)
    part = "txt"
    try:
        text = render_bounded(source.text, frozen)
        part = "html"
        html = render_bounded(source.html, frozen, html=True) if source.html is not None else None
        part = "subject"
        subject = render_bounded(source.subject, frozen) if source.subject else None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {source.id!r} ({part}): {_one_line(exc)}") from exc
    return Message(
        text=text, html=html, subject=subject.strip() if subject else None, template=source.id,
        language=source.language,
    )


def _one_line(error: jinja2.TemplateError) -> str:
    """The error's class and message without Jinja's extra lines; a syntax error names its line."""
    message = getattr(error, "message", None) or str(error)
    first = " ".join(str(message).split())
    line = getattr(error, "lineno", None)
    where = f" (line {line})" if isinstance(error, jinja2.TemplateSyntaxError) and line else ""
    return f"{error.__class__.__name__}: {first}{where}"


def with_opt_out(message: Message, line: str) -> Message:
    """The message with an opt-out line appended to its text (and HTML), unless it already carries it."""
    if not line or line in message.text:
        return message
    html = message.html
    if html is not None and line not in html:
        html = f"{html}\n<p class=\"opt-out\">{escape(line)}</p>"
    return replace(message, text=f"{message.text.rstrip()}\n\n{line}", html=html)


def validate_store(
    store: TemplateStore,
    usages: Iterable[tuple[str, str]] = (),
    channels: ChannelCatalogue | None = None,
    allowed_variables: Mapping[str, Collection[str] | None] = TEMPLATE_VARIABLES,
) -> list[Issue]:
    """Every problem of a template store: each part in each language, plus the content rules of the
    channels that use a template (``usages`` = (channel name, template id) pairs, checked by the
    catalogue's template check, e.g. the owning plugin's ``policy_engine_validate_template``).
    Unknown template ids are issues.
    """
    issues: list[Issue] = []
    for source in store.sources():
        for part, text in source.parts().items():
            where = source.origin.get(part, f"<template {source.id}.{part}>")
            issues += validate_template(text, allowed_variables, file=where)
    catalogue = channels if channels is not None else ChannelCatalogue()
    for channel_name, template_id in usages:
        variants = [s for s in store.sources() if s.id == template_id]
        if not variants:
            issues.append(Issue(Location(""), template_id, f"template {template_id!r} does not exist",
                                code="unknown_template"))
            continue
        spec = catalogue.get(channel_name)
        if spec is None:
            continue
        for source in variants:
            for part, text in source.parts().items():
                where = source.origin.get(part, f"<template {source.id}.{part}>")
                found = catalogue.template_issues(spec, template_id, text)
                issues += [replace(i, location=Location(where, i.location.line)) for i in found]
    return issues
