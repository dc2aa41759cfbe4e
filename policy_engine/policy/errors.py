"""Turn pydantic validation errors into located, plain-language :class:`Issue` objects."""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from policy_engine._exceptions import Issue, Location
from policy_engine.policy.locate import PositionIndex
from policy_engine.policy.suggest import allowed_list, did_you_mean

__all__ = ["format_path", "issues_from_validation", "visible"]


_BARE = re.compile(r"[A-Za-z0-9_-]+")
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: str) -> str:
    """``text`` with every control, line-separator and bidirectional character written as an escape
    (``\\n``, ``\\x1b``, ``\\u202e``), so a message quoting a value stays one honest line."""
    return _INVISIBLE.sub(lambda m: _NAMED.get(m[0]) or (f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100
                                                          else f"\\u{ord(m[0]):04x}"), text)


def format_path(path: tuple[str | int, ...] | list[str | int]) -> str:
    """``("stages", 2, "actions", 0, "channel")`` -> ``stages[2].actions[0].channel``; a key that is not a
    bare TOML key is quoted as TOML writes it (``templates."reminder.v2"``)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = part if _BARE.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out += ("." if out else "") + visible(shown)
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"the string '{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _unwrap(tp: Any) -> list[Any]:
    """Concrete candidate types behind Optional / Annotated / Union."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in get_args(tp):
            out.extend(_unwrap(arg))
        return out
    return [tp]


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The pydantic model class that describes the table at ``loc``."""
    current: list[Any] = [root]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            origin = get_origin(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
                field = tp.model_fields.get(part)
                if field is None:
                    for f in tp.model_fields.values():
                        if f.alias == part:
                            field = f
                if field is not None:
                    nxt.extend(_unwrap(field.annotation))
            elif origin in (list, tuple) and isinstance(part, int):
                nxt.extend(_unwrap(get_args(tp)[0]))
            elif origin is dict and isinstance(part, str):
                nxt.extend(_unwrap(get_args(tp)[1]))
        current = nxt
    for tp in current:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
    return None


def _header(root: type[BaseModel], key: str) -> str:
    """How a top-level section is written: [[stages]] for a list of tables, [guardrails] for a table."""
    field = root.model_fields.get(key)
    return f"[[{key}]]" if field is not None and get_origin(field.annotation) is list else f"[{key}]"


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _message(err: Any, root: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[str, str | None]:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(root, loc[:-1])
        allowed = _allowed_keys(model) if model else []
        misplaced = len(loc) > 1 and key in _allowed_keys(root) and key not in allowed
        if misplaced and not did_you_mean(key, allowed):
            # a top-level section written after a [table] header lands inside that table
            return (f"unknown key '{key}' in [{format_path([p for p in loc[:-1] if isinstance(p, str)])}]: "
                    f"'{key}' is a section of its own; write it as {_header(root, key)} or move it above "
                    "the first [table] header"), f"allowed here: {allowed_list(allowed)}" if allowed else None
        return f"unknown key '{key}'{did_you_mean(key, allowed)}", (
            f"allowed here: {allowed_list(allowed)}" if allowed else None)
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing", None
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
        return f"'{value}' is not allowed{did_you_mean(str(value), choices)}", f"allowed: {allowed_list(choices)}"
    simple = {
        "int_type": "a whole number", "int_from_float": "a whole number", "float_type": "a number",
        "string_type": "a string", "bool_type": "true or false", "list_type": "a list ([...])",
        "dict_type": "a table ({...})", "model_type": "a table ({...})", "model_attributes_type": "a table",
        "date_type": "a date (2026-11-28)", "datetime_type": "a date and time with offset",
        "date_from_datetime_parsing": "a date (2026-11-28)", "date_parsing": "a date (2026-11-28)",
        "datetime_parsing": "a date and time such as 2026-11-28T09:00:00+08:00",
        "datetime_from_date_parsing": "a date and time such as 2026-11-28T09:00:00+08:00",
    }
    if kind in simple:
        hint = None
        if kind in ("model_type", "model_attributes_type"):
            model = _model_at(root, loc)
            hint = f"keys allowed in this table: {allowed_list(_allowed_keys(model))}" if model else None
        return f"expected {simple[kind]}, found {_show(value)}", hint
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}
    if kind in bounds:
        word, key = bounds[kind]
        return f"must be {word} {ctx.get(key)}, found {value!r}", None
    return str(err["msg"]), None


def issues_from_validation(exc: ValidationError, root: type[BaseModel], file: str,
                           index: PositionIndex, prefix: tuple[str | int, ...] = ()) -> list[Issue]:
    """One located :class:`Issue` per pydantic error, in file order."""
    issues: list[Issue] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        ctx = err.get("ctx") or {}
        if err["type"] == "condition":
            loc = loc + tuple(ctx.get("subpath") or ())
        # pydantic appends the validator name to union locations; drop parts that are not keys
        loc = tuple(p for p in loc if isinstance(p, int) or not str(p).startswith(("function-", "lax-"))
                    and p != "[key]")
        message, hint = _message(err, root, loc)
        full = prefix + loc
        line, col = index.find(full)
        issues.append(Issue(Location(file, line, col), format_path(full), visible(message),
                            hint=visible(hint) if hint else None, code=str(err["type"])))
    issues.sort(key=lambda i: (i.location.line, i.location.column))
    return issues
