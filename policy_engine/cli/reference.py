"""The key reference of the policy language as Markdown, made from the JSON Schema: one table per table of
the language, one row per key with its value type, its default and its description.

The descriptions are the pydantic field descriptions of ``policy_engine/policy/models.py``: the same text
editors show from the schema. The policy guide (docs/policy-guide.md) embeds these tables between markers
``<!-- keys: NAME -->`` and ``<!-- /keys -->``; :func:`refresh_guide` rewrites them, and a test checks the
guide holds exactly what :func:`key_table` gives for every table.
"""

from __future__ import annotations

import json
import re
from typing import Any

from policy_engine.policy.validate import policy_schema

__all__ = ["ROOT", "TABLES", "channel_table", "key_reference", "key_table", "refresh_guide"]

ROOT = "PolicyFile"
TABLES: dict[str, str] = {
    "PolicyFile": "a policy file (top level)",
    "Metadata": "[policy]",
    "Bank": "[bank]",
    "Guardrails": "[guardrails]",
    "ContactHours": "an hours window: contact_hours, channel_hours.NAME, kind_hours.KIND",
    "Cap": "[[guardrails.caps]]",
    "AfterConversation": "[[guardrails.after_conversation]]",
    "ContentRules": "[guardrails.content]",
    "LegalRules": "[guardrails.legal]",
    "Hold": "[[holds]]",
    "Notice": "[[notices]]",
    "Segment": "[[segments]]",
    "Stage": "[[stages]]",
    "DpdRange": "a stage's dpd",
    "Action": "[[stages.actions]]",
    "Window": "an action's at_most",
    "Requirement": "an action's requires (and guardrails.legal.required_notices)",
    "AtLeastDays": "a requirement's delivered_days_ago",
    "Offer": "[[offers]]",
    "Escalation": "[escalation]",
    "BrokenPromise": "[escalation.broken_promise]",
    "EscalationAction": "[escalation.broken_promise] action",
    "TemplateText": '[templates.ID."LOCALE"]',
    "Variant": "[[variants]]",
    "PolicyTest": "[[tests]]",
    "Expectation": "a test's expect",
    "ExpectedAction": "an entry of expect.actions",
    "ExpectedSuppression": "an entry of expect.suppressed",
}
"""Every table of the language (a ``$defs`` model of the schema, or the root) and what it is in TOML."""

_MARKER = re.compile(r"<!-- keys: (?P<name>\w+) -->\n.*?<!-- /keys -->", re.DOTALL)
_CHANNELS = re.compile(r"<!-- channels -->\n.*?<!-- /channels -->", re.DOTALL)


def _toml(value: Any) -> str:
    """A JSON value written as TOML shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }" if value else "{}"
    return json.dumps(value)


def _bounds(schema: dict[str, Any]) -> str:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum")
    if low is not None and high is not None:
        return f" {low:g}–{high:g}" if isinstance(low, float) or isinstance(high, float) else f" {low}–{high}"
    if low is not None:
        return f" ≥ {low}" if "minimum" in schema else f" > {low}"
    return f" ≤ {high}" if high is not None else ""


def _value(schema: dict[str, Any]) -> str:
    """What a key takes, in words: ``whole number 1–3660``, ``list of text``, one of ``"a"``, ``"b"``."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        where = TABLES.get(name, name)
        shown = f"`{where}`" if where.startswith("[") else where
        return f"table (see [{shown}](#keys-{name.lower()}))"
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    if options:
        return " or ".join(_value(option) for option in options)
    if "enum" in schema:
        return "one of " + ", ".join(f"`{_toml(item)}`" for item in schema["enum"])
    if "const" in schema:
        return f"`{_toml(schema['const'])}`"
    kind = schema.get("type")
    if kind == "string":
        if schema.get("pattern") == r"^\d{2}:\d{2}$":
            return 'time `"HH:MM"`'
        return {"date": "date (2026-11-28)", "date-time": "date and time with UTC offset"}.get(
            schema.get("format", ""), "text")
    if kind == "integer":
        return "whole number" + _bounds(schema)
    if kind == "number":
        return "number" + _bounds(schema)
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        return "list of " + _value(schema.get("items", {}))
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return "table of NAME = " + _value(extra)
        if extra is True:
            return "table"
        return "condition ([section 6](#6-the-condition-language))" if "properties" not in schema else "table"
    return "value"


def _default(schema: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in schema:
        collection = schema.get("type") in ("array", "object") or any(
            option.get("type") == "array" for option in schema.get("anyOf", []))
        return "none" if collection else ""
    default = schema["default"]
    if default is None:
        return "not set"
    if default in ([], {}):
        return "none"
    return f"`{_toml(default)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def key_table(name: str) -> str:
    """The Markdown table of one table of the language (a key of :data:`TABLES`)."""
    schema = policy_schema()
    model = schema if name == ROOT else schema["$defs"][name]
    required = set(model.get("required", []))
    rows = [f'<a id="keys-{name.lower()}"></a>', "", "| Key | Value | Default | Meaning |", "|---|---|---|---|"]
    for key, prop in model.get("properties", {}).items():
        rows.append(f"| `{key}` | {_cell(_value(prop))} | {_cell(_default(prop, key in required))} | "
                    f"{_cell(prop.get('description', ''))} |")
    return "\n".join(rows)


def key_reference() -> str:
    """Every table of the language, as ``policy-engine schema --format text`` prints it."""
    parts = ["# policy-engine: every key of a policy file", "",
             "Generated from the JSON Schema (`policy-engine schema`); the policy guide explains each table.", ""]
    for name, where in TABLES.items():
        parts += [f"## {name}: {where}", "", key_table(name), ""]
    return "\n".join(parts)


def channel_table() -> str:
    """The built-in channels as the guide lists them: kind, contact point, consent, whether a contact counts as
    an attempt (caps and the daily cap count it), and the settings a run needs."""
    from policy_engine.policy.channels import BUILTIN_CHANNELS  # noqa: PLC0415

    rows = ["| Channel | Kind | What it is | Contact point | Consent | Counts as a contact attempt | Settings a run "
            "needs |", "|---|---|---|---|---|---|---|"]
    for name, spec in BUILTIN_CHANNELS.items():
        settings = ", ".join(f"`{key}`".replace("|", "` or `") for key in spec.required_settings) or "none"
        rows.append(f"| `{name}` | `{spec.kind.value}` | {_cell(spec.description)} | "
                    f"{f'`contact.{spec.contact_point}`' if spec.contact_point else 'none'} | "
                    f"{f'`consent.{spec.consent_key}`' if spec.consent_key else 'none'} | "
                    f"{'yes' if spec.counts_as_attempt else 'no'} | {settings} |")
    return "\n".join(rows)


def refresh_guide(text: str) -> str:
    """``text`` (the policy guide) with every ``<!-- keys: NAME -->`` block and the ``<!-- channels -->`` block
    replaced by their current tables."""
    text = _MARKER.sub(lambda found: f"<!-- keys: {found['name']} -->\n{key_table(found['name'])}\n<!-- /keys -->",
                       text)
    return _CHANNELS.sub(lambda _: f"<!-- channels -->\n{channel_table()}\n<!-- /channels -->", text)
